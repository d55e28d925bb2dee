//! `vanta-cli man [--out-dir DIR]`: the manual pages, made from the clap
//! definition (top layer, part of `commands`).
//!
//! Without `--out-dir` the page of `vanta-cli` goes to stdout; with it,
//! `vanta-cli.1` and one page per subcommand (`vanta-cli-run-with-secrets.1`,
//! ...) are written to DIR.

use std::io::{self, Write};

use anyhow::Context;
use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, ManArgs};

/// Prints the main page, or writes every page to `args.out_dir`.
///
/// # Errors
/// A failed write.
pub(crate) fn run(args: ManArgs) -> anyhow::Result<u8> {
    let command = Cli::command();
    if let Some(dir) = args.out_dir {
        clap_mangen::generate_to(command, &dir)
            .with_context(|| format!("failed to write the manual pages to {}", dir.display()))?;
        return Ok(0);
    }
    let mut page = Vec::new();
    Man::new(command).render(&mut page).context("failed to render the manual page")?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(&page).and_then(|()| stdout.flush()).context("failed to write the manual page to stdout")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_page_per_subcommand() {
        let dir = tempfile::tempdir().expect("dir");
        run(ManArgs { out_dir: Some(dir.path().to_path_buf()) }).expect("written");
        for page in ["vanta-cli.1", "vanta-cli-run-with-secrets.1", "vanta-cli-token-generate.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
            assert!(text.starts_with(".ie"), "{page} is roff");
        }
        let run_page = std::fs::read_to_string(dir.path().join("vanta-cli-run-with-secrets.1")).expect("page");
        assert!(run_page.contains("pristine") && run_page.contains("Exit status"), "long help is in the page");
    }
}
