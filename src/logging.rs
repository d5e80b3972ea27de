//! Logging setup (tracing). The terminal UI logs to a file only; headless
//! commands log to stderr. `RUST_LOG` overrides the default level (info).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::secrets::Secrets;

/// `RUST_LOG`'s filter (default `info`), with the HTTP client's crates held
/// at `debug` whatever it says: at `trace` they dump the request headers in
/// pieces, the management API's `Authorization: Basic …` (user and
/// password) among them, which redaction cannot recognise.
fn filter() -> EnvFilter {
    let mut f = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for quiet in ["ureq=debug", "ureq_proto=debug"] {
        if let Ok(d) = quiet.parse() {
            f = f.add_directive(d);
        }
    }
    f
}

/// The default UI log file: `$XDG_STATE_HOME/streamprobe/streamprobe.log`,
/// else `~/.local/state/streamprobe/streamprobe.log`, else in the temp dir.
pub fn default_log_file() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("streamprobe").join("streamprobe.log")
}

/// Logs to `path` (appending; parent folders created), every line
/// redacted by `secrets`. Keep the guard alive
/// until exit so buffered lines are flushed.
///
/// Errors: the folder cannot be created or the file cannot be opened.
pub fn to_file(path: &Path, secrets: &Secrets) -> Result<WorkerGuard> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create log folder {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(secrets.writer(file));
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(false)
        .with_writer(writer)
        .init();
    Ok(guard)
}

/// Logs to stderr (headless commands), every line redacted by `secrets`.
pub fn to_stderr(secrets: &Secrets) {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer({
            let secrets = secrets.clone();
            move || secrets.writer(std::io::stderr())
        })
        .init();
}

/// Writes `text` to stdout; a closed pipe (`streamprobe report F | head`)
/// ends the output quietly instead of panicking, as `cat` does.
pub fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
