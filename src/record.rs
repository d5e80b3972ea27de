//! Session recordings: every event of a run as JSON Lines (`--record FILE`,
//! the UI's `w`), and `streamprobe report FILE`, which folds a recording
//! back through [`crate::stats::RunStats`] and prints the summary `probe`
//! prints.

use std::path::Path;
use std::process::ExitCode;

/// `streamprobe report FILE [--json]`: exit 0 when the recorded run passes,
/// 1 when not, 2 when the file cannot be read or parsed.
pub fn report_main(path: &Path, json: bool) -> ExitCode {
    let _ = json;
    eprintln!("streamprobe report: {}: not implemented yet", path.display());
    ExitCode::from(2)
}
