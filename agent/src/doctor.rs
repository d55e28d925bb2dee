//! `vanta-agent doctor` (layer L4, beside [`crate::app`]): checks what the
//! agent needs, one line per check, without serving or changing anything.
//!
//! It hardens itself as the agent does (no core dumps, not dumpable), reads
//! the same flags and variables as the agent, then checks the
//! configuration, the socket directory (refused as start-up refuses it),
//! the state store, the audit log's directory, the policy file and TLS
//! material as start-up loads them, sops and its version, the key material sops will see, and
//! decrypts every environment file with the real sops. A line is `ok`,
//! `warn` (worth knowing, not fatal) or `FAIL` (what is wrong — what to do).
//! It never prints a value or a key name: only counts.

use std::fmt::Display;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use nix::unistd::{AccessFlags, access};

use crate::config::{Args, Config, MintRules, RedisConfig, UsageStoreConfig};
use crate::policy::Policy;
use crate::sops::files::{self, EnvFile};
use crate::sops::{SopsCommand, SopsError};
use crate::usage::{Store, UsageStore};

/// Counts failures while it prints.
struct Report<W: Write> {
    out: W,
    failed: usize,
}

/// The first bytes of every SQLite database file.
const SQLITE_HEADER: &[u8] = b"SQLite format 3\0";

// === impl Report ===

impl<W: Write> Report<W> {
    fn line(&mut self, status: &str, check: &str, text: &dyn Display) {
        // A closed stdout must not turn into a panic; the exit code still tells.
        let _ = writeln!(self.out, "{status:<4}  {check}: {text}");
    }

    fn ok(&mut self, check: &str, text: impl Display) {
        self.line("ok", check, &text);
    }

    fn warn(&mut self, check: &str, problem: impl Display, fix: impl Display) {
        self.line("warn", check, &format!("{problem} — {fix}"));
    }

    fn fail(&mut self, check: &str, problem: impl Display, fix: impl Display) {
        self.failed += 1;
        self.line("FAIL", check, &format!("{problem} — {fix}"));
    }
}

/// Runs every check against this process's flags and environment; exit 0 if
/// none failed, 1 otherwise.
pub fn main(args: Args) -> ExitCode {
    // First, as the server does: the doctor reads the JWT key and decrypts
    // every environment, so a crash must not write them to a core file and
    // another process of this uid must not read its memory.
    let hardened = crate::hardening::apply();
    let stdout = std::io::stdout();
    let mut report = Report { out: stdout.lock(), failed: 0 };
    if let Err(err) = hardened {
        report.warn(
            "hardening",
            format!("failed to disable core dumps: {err}"),
            "a crash could write decrypted secrets to disk; allow setrlimit and prctl (seccomp profile)",
        );
    }
    run(args, &mut report);
    if report.failed == 0 {
        report.ok("summary", "every check passed");
        ExitCode::SUCCESS
    } else {
        let count = report.failed;
        report.line("FAIL", "summary", &format!("{count} check(s) failed"));
        ExitCode::from(1)
    }
}

fn run<W: Write>(args: Args, report: &mut Report<W>) {
    let config = match Config::from_process(args) {
        Ok(config) => config,
        Err(err) => {
            report.fail(
                "configuration",
                err,
                "fix the flag or variable named; other checks need a valid configuration",
            );
            return;
        }
    };
    report.ok("configuration", "valid");
    for warning in &config.warnings {
        report.warn(
            "unused setting",
            warning,
            "remove it, or ignore this if an image or manifest sets it for every setup",
        );
    }
    check_open_files(report, &config);
    check_socket_directory(report, &config.listen.socket.path);
    if let UsageStoreConfig::Sqlite(path) = &config.usage.store {
        check_state(report, path);
    }
    if let Some(audit) = &config.audit.path {
        check_audit_directory(report, audit);
    }
    if let MintRules::File(policy) = &config.mint.rules {
        check_policy(report, policy);
    }
    if let Some((cert, key)) = config.listen.tcp.as_ref().and_then(|tcp| tcp.tls.as_ref()) {
        check_tls(report, cert, key);
    }
    let sops = crate::app::sops_command(&config.sops);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return report.fail("runtime", err, "the process cannot start threads or timers"),
    };
    runtime.block_on(async {
        if let UsageStoreConfig::Redis(redis) = &config.usage.store {
            check_redis(report, redis, &config.usage.store.describe()).await;
        }
        if check_sops(report, &sops).await {
            check_keys(report, &sops);
            check_environments(report, &sops).await;
        }
    });
}

/// The open-file limit, raised as the server raises it, against what the
/// connection caps need.
fn check_open_files<W: Write>(report: &mut Report<W>, config: &Config) {
    let needed = crate::app::open_files_needed(config);
    match crate::open_files::raise(needed) {
        Ok((limit, _)) if limit < needed => report.warn(
            "open files",
            format!("the limit ({limit}) is below what the connection caps need ({needed})"),
            crate::open_files::FIX,
        ),
        Ok((limit, hard)) => {
            report.ok("open files", format!("limit {limit} (hard {hard}), the connection caps need {needed}"));
        }
        Err(err) => report.warn("open files", format!("failed to raise the limit: {err}"), crate::open_files::FIX),
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The socket's directory: refused as start-up refuses it (other users may
/// write it), else writable or creatable.
fn check_socket_directory<W: Write>(report: &mut Report<W>, socket: &Path) {
    let parent = parent_of(socket);
    match crate::transport::unix::check_directory(parent) {
        Ok(()) => check_writable_parent(report, "socket directory", socket, "--socket (VANTA_AGENT_SOCKET)"),
        Err(err) => report.fail("socket directory", err, "the agent refuses to start on it"),
    }
}

/// The audit log's directory must exist: the agent creates the file, not
/// its directory (a log directory is the operator's, with its rotation).
fn check_audit_directory<W: Write>(report: &mut Report<W>, audit: &Path) {
    let parent = parent_of(audit);
    if parent.is_dir() {
        check_writable_parent(report, "audit log", audit, "--audit-log (VANTA_AUDIT_LOG)");
    } else {
        report.fail(
            "audit log",
            format!("{} is not a directory", parent.display()),
            "create it for the agent's user (the agent creates the file, not its directory), or change --audit-log",
        );
    }
}

/// The policy file loads as start-up loads it.
fn check_policy<W: Write>(report: &mut Report<W>, path: &Path) {
    match Policy::load(path) {
        Ok(policy) => report.ok("policy file", format!("{}: {} rule(s)", path.display(), policy.rules().len())),
        Err(err) => report.fail("policy file", err, "fix the file; `vanta-agent policy check FILE` shows its rules"),
    }
}

/// The TLS certificate and key load as start-up loads them.
fn check_tls<W: Write>(report: &mut Report<W>, cert: &Path, key: &Path) {
    match crate::transport::tcp::check_tls_files(cert, key) {
        Ok(()) => report.ok("tls", format!("{} and {} make a server certificate", cert.display(), key.display())),
        Err(err) => report.fail("tls", err, "fix --tls-cert and --tls-key (VANTA_TLS_CERT, VANTA_TLS_KEY)"),
    }
}

/// The directory `path` goes in must be writable, or creatable below the
/// nearest existing ancestor.
fn check_writable_parent<W: Write>(report: &mut Report<W>, check: &str, path: &Path, flag: &str) {
    let parent = parent_of(path);
    let existing = parent.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
    let writable = existing.is_dir() && access(existing, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
    let mode = std::fs::metadata(existing).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    let open_to_all = mode.is_ok_and(|m| m & 0o002 != 0 && m & 0o1000 == 0);
    match (writable, existing == parent) {
        (true, true) if open_to_all => report.warn(
            check,
            format!("{} is writable by every user (no sticky bit)", parent.display()),
            "any local user could replace or delete what the agent keeps there: chmod o-w",
        ),
        (true, true) => report.ok(check, format!("{} is writable", parent.display())),
        (true, false) => report.ok(check, format!("{} will be created", parent.display())),
        (false, _) => report.fail(
            check,
            format!("{} is not a writable directory", existing.display()),
            format!("create it for the agent's user, or change {flag}"),
        ),
    }
}

fn check_state<W: Write>(report: &mut Report<W>, state: &Path) {
    const FLAG: &str = "--state-path (VANTA_STATE_PATH)";
    if !state.exists() {
        return check_writable_parent(report, "state store", state, FLAG);
    }
    // Opening a FIFO would block until a writer came (as the agent refuses it).
    if !state.is_file() {
        return report.fail(
            "state store",
            format!("{} is not a regular file", state.display()),
            format!("point {FLAG} at a file (it is created if missing)"),
        );
    }
    let mut header = [0u8; SQLITE_HEADER.len()];
    let readable = std::fs::File::open(state).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    let writable = access(state, AccessFlags::R_OK | AccessFlags::W_OK).is_ok();
    match readable {
        Err(err) => report.fail("state store", format!("{} cannot be read ({err})", state.display()), FLAG),
        Ok(()) if header != SQLITE_HEADER => report.fail(
            "state store",
            format!("{} is not a SQLite database", state.display()),
            format!("point {FLAG} at the agent's usage.db, or at a new path"),
        ),
        Ok(()) if !writable => report.fail(
            "state store",
            format!("{} is not writable", state.display()),
            "give the agent's user write access to it",
        ),
        Ok(()) => report.ok("state store", format!("{} is a writable SQLite database", state.display())),
    }
}

/// Whether the shared Redis store answers (named without its URL, which is
/// the operator's to keep private).
async fn check_redis<W: Write>(report: &mut Report<W>, redis: &RedisConfig, name: &str) {
    const FLAG: &str = "--usage-store (VANTA_USAGE_STORE)";
    let answered = match Store::open_redis(crate::app::redis_target(redis)).await {
        Ok((store, _task)) => store.ping().await,
        Err(err) => Err(err),
    };
    match answered {
        Ok(()) => report.ok("usage store", format!("{name} answers")),
        Err(err) => report.fail(
            "usage store",
            format!("{name}: {err}"),
            format!("check {FLAG}, VANTA_USAGE_STORE_PASSWORD(_FILE) and that Redis runs"),
        ),
    }
}

/// Whether sops runs at all; the checks after it need it.
async fn check_sops<W: Write>(report: &mut Report<W>, sops: &SopsCommand) -> bool {
    match sops.version().await {
        Ok(version) => {
            report.ok("sops", format!("{version} at {}", sops.bin().display()));
            true
        }
        Err(err) => {
            let fix = err.hint().unwrap_or_default();
            report.fail("sops", format!("{} does not run: {err}", sops.bin().display()), fix);
            false
        }
    }
}

fn check_keys<W: Write>(report: &mut Report<W>, sops: &SopsCommand) {
    let material = sops.key_material();
    for problem in &material.problems {
        report.fail("key material", problem, "fix or unset the variable; sops would fail on it");
    }
    match material.absent_warning() {
        Some(warning) => report.warn("key material", warning, "set SOPS_AGE_KEY_FILE (or GNUPGHOME) for the agent"),
        None => report.ok("key material", material.found.join(", ")),
    }
}

async fn check_environments<W: Write>(report: &mut Report<W>, sops: &SopsCommand) {
    let dir = sops.files_dir();
    let scanned = match files::scan(dir) {
        Ok(scanned) => scanned,
        Err(err) => {
            return report.fail(
                "secrets directory",
                format!("{} cannot be read: {err}", dir.display()),
                "check --sops-files-path (VANTA_SOPS_FILES_PATH) and its permissions",
            );
        }
    };
    if scanned.is_empty() {
        return report.warn(
            "secrets directory",
            format!("{} holds no {{environment}}.enc.{{yaml,yml,json,env,ini}} file", dir.display()),
            "add the sops-encrypted files, or fix --sops-files-path",
        );
    }
    report.ok("secrets directory", format!("{} environment(s) in {}", scanned.len(), dir.display()));
    for env in scanned.keys() {
        let check = format!("environment {env}");
        let decrypted = match sops.file_for(env) {
            Ok(file) => decrypt(sops, &file).await,
            Err(err) => Err(err),
        };
        match decrypted {
            Ok((text, 0)) => report.ok(&check, text),
            Ok((text, unnamable)) => report.warn(
                &check,
                format!("{text}, but {unnamable} more cannot be fetched: no key path can name them"),
                "rename the keys to segments of [A-Za-z0-9_.-] (no spaces, no `/`)",
            ),
            Err(err) => report.fail(&check, failure_with_stderr(&err), err.hint().unwrap_or_default()),
        }
    }
}

/// The failure, with what sops said (screened as for the agent's log).
fn failure_with_stderr(err: &SopsError) -> String {
    match err.stderr() {
        Some(stderr) => format!("{err} (sops said: {stderr})"),
        None => err.to_string(),
    }
}

/// `N keys (file name)`, and how many leaves no key path can name: counts
/// only, never a key or a value.
async fn decrypt(sops: &SopsCommand, file: &EnvFile) -> Result<(String, usize), SopsError> {
    let tree = sops.decrypt_file(file, std::iter::empty()).await?;
    let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok((format!("{} key(s) decrypted from {name}", tree.keys().len()), tree.unnamable_leaves()))
}
