//! Which file holds an environment, and in which format.
//!
//! Environment `E` is `E.enc.yaml`, `E.enc.yml`, `E.enc.json`, `E.enc.env` or
//! `E.enc.ini` in the files directory. Exactly one may exist: two files for
//! one environment is a configuration error, reported as such and never
//! resolved by picking one (docs/VAULT_ACCESS_SYSTEM_README.md, "Secret files").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vanta_shared::EnvName;

/// The formats sops reads, as the agent tells sops about them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `.enc.yaml` / `.enc.yml`.
    Yaml,
    /// `.enc.json`.
    Json,
    /// `.enc.env` (dotenv).
    Dotenv,
    /// `.enc.ini`.
    Ini,
}

/// The one file of an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFile {
    /// Where it is.
    pub path: PathBuf,
    /// How sops must read it.
    pub format: Format,
}

/// Why an environment has no usable file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// None of the file names exists.
    Missing,
    /// More than one exists; their extensions (`yaml`, `json`, ...).
    Ambiguous(Vec<&'static str>),
}

/// File extensions after `{env}.enc.`, in the order they are reported.
const EXTENSIONS: [(&str, Format); 5] = [
    ("yaml", Format::Yaml),
    ("yml", Format::Yaml),
    ("json", Format::Json),
    ("env", Format::Dotenv),
    ("ini", Format::Ini),
];

// === impl Format ===

impl Format {
    /// The `--input-type` sops is given.
    pub fn input_type(self) -> &'static str {
        match self {
            Self::Yaml => "yaml",
            Self::Json => "json",
            Self::Dotenv => "dotenv",
            Self::Ini => "ini",
        }
    }

    /// The `--output-type` sops is asked for. YAML and JSON stay native, so
    /// numbers come back as sops writes them in that format; dotenv and INI
    /// hold only strings, and JSON prints them unambiguously (a dotenv value
    /// printed natively has its newlines escaped as `\n`, INI pads and
    /// re-quotes values).
    pub fn output_type(self) -> &'static str {
        if self.prints_json() { "json" } else { "yaml" }
    }

    /// Whether sops is asked for JSON (else YAML); see [`Format::output_type`].
    pub fn prints_json(self) -> bool {
        self != Self::Yaml
    }
}

// === impl EnvFile ===

impl EnvFile {
    /// The file of `env` in `dir`.
    ///
    /// # Errors
    /// [`Unresolved`] if there is none, or more than one.
    pub fn resolve(dir: &Path, env: &EnvName) -> Result<Self, Unresolved> {
        let mut found = EXTENSIONS
            .iter()
            .map(|(ext, format)| (*ext, EnvFile { path: dir.join(format!("{env}.enc.{ext}")), format: *format }))
            .filter(|(_, file)| file.path.is_file());
        let Some((first_ext, first)) = found.next() else { return Err(Unresolved::Missing) };
        let others: Vec<&'static str> = found.map(|(ext, _)| ext).collect();
        if others.is_empty() {
            return Ok(first);
        }
        Err(Unresolved::Ambiguous(std::iter::once(first_ext).chain(others).collect()))
    }
}

/// Every environment with at least one file in `dir`, and the extensions of
/// its files (more than one: ambiguous). Names that are not valid
/// environment names are skipped: no request could reach them.
///
/// # Errors
/// If `dir` cannot be read.
pub fn scan(dir: &Path) -> std::io::Result<BTreeMap<EnvName, Vec<&'static str>>> {
    let mut found: BTreeMap<EnvName, Vec<&'static str>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((env, ext)) = name.split_once(".enc.") else { continue };
        let Some((ext, _)) = EXTENSIONS.iter().find(|(e, _)| *e == ext) else { continue };
        let Ok(env) = env.parse::<EnvName>() else { continue };
        if dir.join(name).is_file() {
            found.entry(env).or_default().push(ext);
        }
    }
    for exts in found.values_mut() {
        exts.sort_by_key(|ext| EXTENSIONS.iter().position(|(e, _)| e == ext));
    }
    Ok(found)
}

/// `dev.enc.yaml, dev.enc.json`: the names of an ambiguous environment's
/// files (names only, no directory).
pub fn file_names(env: &EnvName, extensions: &[&str]) -> String {
    extensions.iter().map(|ext| format!("{env}.enc.{ext}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> EnvName {
        name.parse().expect("env")
    }

    #[test]
    fn one_file_of_any_format_resolves_and_two_are_ambiguous() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, (ext, format)) in EXTENSIONS.iter().enumerate() {
            let name = format!("e{i}");
            std::fs::write(dir.path().join(format!("{name}.enc.{ext}")), b"x").expect("write");
            let file = EnvFile::resolve(dir.path(), &env(&name)).expect("resolves");
            assert_eq!(file.format, *format, "{ext}");
        }
        assert_eq!(EnvFile::resolve(dir.path(), &env("nothing")), Err(Unresolved::Missing));
        std::fs::write(dir.path().join("e0.enc.json"), b"{}").expect("write");
        assert_eq!(EnvFile::resolve(dir.path(), &env("e0")), Err(Unresolved::Ambiguous(vec!["yaml", "json"])));
        let scanned = scan(dir.path()).expect("scan");
        assert_eq!(scanned.len(), 5);
        assert_eq!(scanned[&env("e0")], ["yaml", "json"]);
        assert_eq!(file_names(&env("e0"), &scanned[&env("e0")]), "e0.enc.yaml, e0.enc.json");
    }

    #[test]
    fn other_files_and_directories_are_not_environments() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["README.md", "dev.yaml", "dev.enc.toml", "-x.enc.yaml", ".sops.yaml"] {
            std::fs::write(dir.path().join(name), b"x").expect("write");
        }
        std::fs::create_dir(dir.path().join("sub.enc.yaml")).expect("mkdir");
        assert!(scan(dir.path()).expect("scan").is_empty());
        assert_eq!(EnvFile::resolve(dir.path(), &env("sub")), Err(Unresolved::Missing));
    }
}
