//! `streamprobe pipeline`: run Bento / Tyk Streams stream definitions
//! locally, in-process, for machines that have the brokers but no Tyk.
//! Behaviour follows ../shared/BENTO.md; see the README for the supported
//! components and the known differences.

pub mod build;
pub mod check;
pub mod config;
pub mod connect;
pub mod finding;
pub mod http;
pub mod input;
pub mod interp;
pub mod message;
pub mod metrics;
pub mod output;
pub mod processor;
pub mod stream;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cli::PipelineArgs;
use crate::secrets::Secrets;
use finding::Finding;

/// The references' context: the `--api-config` map (if given) and
/// `secrets`, or the message naming the flag and the problem.
fn refs(path: Option<&Path>, secrets: &Secrets) -> Result<config::Refs, String> {
    let api_config = path
        .map(config::load_api_config)
        .transpose()
        .map_err(|e| format!("--api-config {e}"))?;
    Ok(config::Refs {
        api_config,
        secrets: secrets.clone(),
        tyk_version: None,
    })
}

/// A finding for every stream id already defined by an earlier file
/// (`ids` maps each id seen so far to its file); `pipeline` refuses to run
/// two streams of one id, as Bento's streams mode does.
fn duplicate_ids(
    file: &Path,
    streams: &[config::NamedStream],
    ids: &mut HashMap<String, PathBuf>,
) -> Vec<Finding> {
    let mut found = Vec::new();
    for n in streams {
        if let Some(first) = ids.insert(n.id.clone(), file.to_owned()) {
            found.push(Finding::error(
                vec![],
                format!(
                    "stream id {:?} is already defined by {}: `streamprobe pipeline` refuses to run both (a stream's id is its file name, or its key under `streams:`)",
                    n.id,
                    first.display()
                ),
            ));
        }
    }
    found
}

/// Checks every file (the same [`check::file`] pass as `lint`), then
/// builds every stream, runs them until Ctrl-C/SIGTERM, drains, and
/// returns the exit code: 0 after a clean stop, 2 for a config error
/// (each printed as `lint` prints it, `file:line:col: message`, secrets
/// redacted; warnings too, without stopping the run).
pub async fn main(args: PipelineArgs, secrets: &Secrets) -> ExitCode {
    let refs = match refs(args.api_config.as_deref(), secrets) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("streamprobe pipeline: {e}");
            return ExitCode::from(2);
        }
    };
    let mut named = Vec::new();
    let mut ids = HashMap::new();
    for f in &args.files {
        // every finding as `lint` prints it; warnings do not stop the run
        let (mut errors, warnings): (Vec<Finding>, Vec<Finding>) = check::file(f, &refs)
            .into_iter()
            .partition(Finding::is_error);
        for w in &warnings {
            eprintln!("{}", finding::format(f, w, secrets));
        }
        let loaded = if errors.is_empty() {
            match config::load(f, &refs) {
                Ok(s) => s,
                Err(e) => {
                    errors.push(Finding::error(vec![], e.message));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        errors.extend(duplicate_ids(f, &loaded, &mut ids));
        if !errors.is_empty() {
            for x in &errors {
                eprintln!("{}", finding::format(f, x, secrets));
            }
            return ExitCode::from(2);
        }
        named.extend(loaded);
    }
    // Bento's streams mode (a `streams:` map or several files) labels
    // every metric with its stream
    let streams_mode = args.files.len() > 1
        || named.iter().any(|n| {
            n.file
                .file_stem()
                .is_none_or(|s| s.to_string_lossy() != n.id)
        });
    let metrics = Arc::new(metrics::Metrics::new(streams_mode));
    // the HTTP address is checked (bound) before any stream is built
    let address = args
        .http_address
        .as_deref()
        .unwrap_or(http::DEFAULT_ADDRESS);
    let listener = if address == "off" {
        None
    } else {
        match http::bind(address).await {
            Ok(l) => Some(l),
            Err(e) if args.http_address.is_none() => {
                tracing::warn!(
                    "{e:#}; running without /ping /ready /metrics (choose another with --http-address)"
                );
                None
            }
            Err(e) => {
                eprintln!("streamprobe pipeline: {e:#}");
                return ExitCode::from(2);
            }
        }
    };
    let mut streams = Vec::new();
    for n in &named {
        match build::stream(n, metrics.clone()) {
            Ok(s) => streams.push(s),
            Err(e) => {
                let e = Finding::error(vec![], format!("stream {}: {e:#}", n.id));
                eprintln!("{}", finding::format(&n.file, &e, secrets));
                return ExitCode::from(2);
            }
        }
    }
    let cancel = CancellationToken::new();
    if let Some(l) = listener {
        match http::serve(l, metrics.clone(), cancel.clone()) {
            Ok(at) => tracing::info!("serving /ping /ready /metrics on http://{at}"),
            Err(e) => tracing::warn!("{e:#}; running without /ping /ready /metrics"),
        }
    }
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

/// `streamprobe lint FILE...`: prints every finding of [`check::file`]
/// as `file:line:col: [warning: ]message`; exit 0 when there are no errors
/// (warnings allowed), 1 otherwise. Builds nothing and opens no socket.
pub async fn lint_main(
    files: Vec<PathBuf>,
    api_config_file: Option<PathBuf>,
    tyk_version: Option<String>,
    secrets: &Secrets,
) -> ExitCode {
    let mut refs = match refs(api_config_file.as_deref(), secrets) {
        Ok(a) => a,
        Err(e) => {
            println!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Some(v) = tyk_version {
        match check::tyk::parse_version(&v) {
            Ok(v) => refs.tyk_version = Some(v),
            Err(e) => {
                println!("streamprobe lint: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut errors = 0;
    // stream ids must be unique across the files run together
    let mut ids = HashMap::new();
    for f in &files {
        let mut findings = check::file(f, &refs);
        let loaded = config::load(f, &refs).unwrap_or_default();
        findings.extend(duplicate_ids(f, &loaded, &mut ids));
        for x in &findings {
            println!("{}", finding::format(f, x, secrets));
            if x.is_error() {
                errors += 1;
            }
        }
        if !findings.iter().any(Finding::is_error) {
            let warnings = findings.len();
            if warnings == 0 {
                println!("{}: ok", f.display());
            } else {
                // runs here; the warnings say where a Bento or Tyk may not
                println!(
                    "{}: ok for the local runner, with {warnings} warning{}",
                    f.display(),
                    if warnings == 1 { "" } else { "s" }
                );
            }
        }
    }
    if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
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
