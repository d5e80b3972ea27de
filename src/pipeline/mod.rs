//! `streamprobe pipeline`: run Bento / Tyk Streams stream definitions
//! locally, in-process, for machines that have the brokers but no Tyk.
//! Behaviour follows ../shared/BENTO.md; see the README for the supported
//! components and the known differences.

pub mod config;
pub mod http;
pub mod interp;
pub mod kafka_input;
pub mod lint;
pub mod mapping;
pub mod metrics;
pub mod runner;
pub mod validate;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::PipelineArgs;

/// Loads every file, builds every stream, runs them until Ctrl-C/SIGTERM,
/// drains, and returns the exit code: 0 after a clean stop, 2 for a config
/// error (printed as `file: line:col: message`).
pub async fn main(args: PipelineArgs) -> ExitCode {
    let api = match args
        .api_config
        .as_deref()
        .map(config::load_api_config)
        .transpose()
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("streamprobe pipeline: --api-config {e}");
            return ExitCode::from(2);
        }
    };
    let mut named = Vec::new();
    for f in &args.files {
        match config::load(f, api.as_ref()) {
            Ok(s) => named.extend(s),
            Err(e) => {
                report_errors(f, api.as_ref(), &e.to_string());
                return ExitCode::from(2);
            }
        }
    }
    let mut ids = std::collections::HashMap::new();
    let mut streams = Vec::new();
    for n in &named {
        if let Some(first) = ids.insert(n.id.clone(), n.file.clone()) {
            eprintln!(
                "streamprobe pipeline: {}: stream id {:?} is already defined by {} (a stream's id is its file name, or its key under `streams:`; rename one)",
                n.file.display(),
                n.id,
                first.display()
            );
            return ExitCode::from(2);
        }
        match runner::Stream::build(n) {
            Ok(s) => streams.push(s),
            Err(e) => {
                let fallback = format!("{}: stream {}: {e:#}", n.file.display(), n.id);
                report_errors(&n.file, api.as_ref(), &fallback);
                return ExitCode::from(2);
            }
        }
    }
    let cancel = CancellationToken::new();
    let drain = Duration::from_secs_f64(args.drain_timeout);
    let mut tasks = Vec::new();
    for s in streams {
        let counters = s.counters.clone();
        let id = s.id.clone();
        tracing::info!(stream = %id, "stream starting");
        tasks.push((id, counters, tokio::spawn(s.run(cancel.clone(), drain))));
    }
    let status = {
        let list: Vec<_> = tasks
            .iter()
            .map(|(id, c, _)| (id.clone(), c.clone()))
            .collect();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let mut last = vec![(0, 0, 0); list.len()];
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! { _ = cancel.cancelled() => return, _ = tick.tick() => {} }
                for (i, (id, c)) in list.iter().enumerate() {
                    let now = (
                        c.received.load(Ordering::Relaxed),
                        c.acked.load(Ordering::Relaxed),
                        c.nacked.load(Ordering::Relaxed),
                    );
                    if now != last[i] {
                        tracing::info!(stream = %id, received = now.0, acked = now.1, nacked = now.2, in_flight = c.in_flight(), "status");
                        last[i] = now;
                    }
                }
            }
        })
    };
    wait_for_shutdown().await;
    tracing::info!(
        "shutting down: no new input, draining in-flight messages (up to {}s; Ctrl-C again to stop now)",
        args.drain_timeout
    );
    cancel.cancel();
    // A second signal stops at once: whatever is unsettled is redelivered.
    tokio::spawn(async {
        wait_for_shutdown().await;
        eprintln!(
            "streamprobe pipeline: stopping now; unsettled messages will be redelivered by the broker"
        );
        std::process::exit(0);
    });
    for (id, c, t) in tasks {
        let _ = t.await;
        tracing::info!(
            stream = %id,
            received = c.received.load(Ordering::Relaxed),
            acked = c.acked.load(Ordering::Relaxed),
            nacked = c.nacked.load(Ordering::Relaxed),
            left_unsettled = c.abandoned.load(Ordering::Relaxed),
            "stream stopped"
        );
    }
    status.abort();
    ExitCode::SUCCESS
}

/// `streamprobe lint FILE...`: prints every finding as
/// `file:line:col: message`; exit 0 when there are no errors (warnings
/// allowed), 1 otherwise.
pub async fn lint_main(
    files: Vec<std::path::PathBuf>,
    api_config: Option<std::path::PathBuf>,
) -> ExitCode {
    let api = match api_config
        .as_deref()
        .map(config::load_api_config)
        .transpose()
    {
        Ok(a) => a,
        Err(e) => {
            println!("--api-config {e}");
            return ExitCode::from(1);
        }
    };
    let mut errors = 0;
    // stream ids must be unique across the files run together
    let mut ids = std::collections::HashMap::new();
    for f in &files {
        let mut findings = lint::lint_file(f, api.as_ref());
        for n in config::load(f, api.as_ref()).unwrap_or_default() {
            if let Some(first) = ids.insert(n.id.clone(), f.clone()) {
                findings.push(lint::Finding {
                    at: None,
                    message: format!(
                        "stream id {:?} is already defined by {}: `streamprobe pipeline` refuses to run both (a stream's id is its file name, or its key under `streams:`)",
                        n.id,
                        first.display()
                    ),
                    warning: false,
                });
            }
        }
        for x in &findings {
            println!("{}", lint::format(f, x));
            if !x.warning {
                errors += 1;
            }
        }
        if findings.iter().all(|x| x.warning) {
            println!("{}: ok", f.display());
        }
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Prints every error lint finds in `file` (each invalid component with
/// its line:col, in every stream of the file), or `fallback` when lint has
/// none to give; values of Tyk references redacted.
fn report_errors(
    file: &std::path::Path,
    api: Option<&std::collections::BTreeMap<String, String>>,
    fallback: &str,
) {
    let errors: Vec<lint::Finding> = lint::lint_file(file, api)
        .into_iter()
        .filter(|x| !x.warning)
        .collect();
    if errors.is_empty() {
        eprintln!("streamprobe pipeline: {}", crate::secrets::redact(fallback));
    }
    for x in errors {
        let at = x.at.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default();
        let msg = crate::secrets::redact(&x.message);
        eprintln!("streamprobe pipeline: {}: {at}{msg}", file.display());
    }
}

async fn wait_for_shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
