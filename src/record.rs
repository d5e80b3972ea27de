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
    eprintln!(
        "streamprobe report: {}: not implemented yet",
        path.display()
    );
    ExitCode::from(2)
}

// TEMPORARY stub of the agreed API (replaced by the real recorder).
use std::io::Write;

/// What a recording starts with.
pub struct SessionHeader {
    pub run: String,
    pub source: String,
    pub destinations: Vec<(String, crate::links::Role)>,
    pub loss_timeout: std::time::Duration,
}

/// Writes a session as JSON Lines.
pub struct Recorder(std::io::BufWriter<std::fs::File>);

impl Recorder {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, _header: &SessionHeader) -> std::io::Result<Recorder> {
        Ok(Recorder(std::io::BufWriter::new(std::fs::File::create(
            path,
        )?)))
    }
    /// A new run starts.
    pub fn run_started(&mut self, run: &str) -> std::io::Result<()> {
        writeln!(self.0, "{{\"type\":\"run\",\"run\":\"{run}\"}}")
    }
    /// One event.
    pub fn event(
        &mut self,
        _ev: &crate::event::Event,
        _verdict: Option<crate::tracker::Verdict>,
    ) -> std::io::Result<()> {
        Ok(())
    }
    /// Flushes.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
