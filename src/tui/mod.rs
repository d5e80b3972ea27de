//! The terminal UI: spawns the I/O tasks, drains their events and redraws
//! at a fixed frame rate, and turns keys and the mouse into actions (the
//! table in [`keys`]). One file per widget under this module; the state and
//! its pure reducer are in [`app`].

pub mod app;
pub mod composer;
pub mod help;
pub mod injector;
pub mod inspector;
pub mod keys;
pub mod latency_table;
pub mod layout;
pub mod message_list;
pub mod pane;
pub mod render;
pub mod sparklines;
pub mod status_line;
pub mod summary;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream, KeyCode,
    KeyEventKind, KeyModifiers,
};
use futures::StreamExt;
use ratatui::layout::Rect;

use crate::cli::UiArgs;
use crate::envelope;
use crate::links::{self, Workers};
use crate::record::{Recorder, SessionHeader};
use crate::secrets::Secrets;
use app::{App, Command};

/// Frame period: about 30 frames per second.
pub const FRAME: Duration = Duration::from_millis(33);
/// Most worker events folded in per wake-up before the loop yields to keys
/// and frames again.
const DRAIN_MAX: usize = 50_000;
/// How long quitting waits for the links to detach before it stops anyway.
pub const QUIT_GRACE: Duration = Duration::from_millis(1500);

/// Pane titles and endpoints: the destination's name, with its role when it
/// is not a primary (`amqp:KAFKA_DLQ · dead letter`).
pub fn pane_names(plan: &links::Plan) -> Vec<(String, String)> {
    plan.dests
        .iter()
        .map(|d| {
            let name = match d.role {
                links::Role::Primary => d.name.clone(),
                r => format!("{} · {}", d.name, r.label()),
            };
            (name, d.endpoint())
        })
        .collect()
}

/// The folder sessions are saved in by `w`: next to the default log file
/// (`$XDG_STATE_HOME/streamprobe/sessions`).
pub fn sessions_dir() -> PathBuf {
    crate::logging::default_log_file()
        .parent()
        .map_or_else(std::env::temp_dir, |p| p.to_path_buf())
        .join("sessions")
}

/// The session's recording: to `--record FILE` from the start, or to a
/// spool file that `w` renames into [`sessions_dir`] (so `w` saves every
/// event of the session, not only those after the key press); an unsaved
/// spool is deleted on exit.
struct Recording {
    rec: Option<Recorder>,
    spool: Option<PathBuf>,
}

impl Recording {
    fn start(args: &UiArgs, header: &SessionHeader) -> Result<(Recording, Option<String>)> {
        if let Some(path) = &args.record {
            let rec = Recorder::create(path, header)
                .with_context(|| format!("--record {}: cannot create the file", path.display()))?;
            return Ok((
                Recording {
                    rec: Some(rec),
                    spool: None,
                },
                Some(path.display().to_string()),
            ));
        }
        let dir = sessions_dir();
        let spool = dir.join(format!(".spool-{}.jsonl", std::process::id()));
        let rec = std::fs::create_dir_all(&dir)
            .and_then(|_| Recorder::create(&spool, header))
            .map_err(|e| tracing::warn!(error = %e, dir = %dir.display(), "no session spool: w cannot save"))
            .ok();
        let spool = rec.as_ref().map(|_| spool);
        Ok((Recording { rec, spool }, None))
    }

    /// `w`: moves the spool to a named file; returns its path or why not.
    fn save(&mut self, run: &str) -> Result<String, String> {
        let Some(spool) = self.spool.take() else {
            return Err(
                "nothing to save: the session spool could not be created (see the log)".into(),
            );
        };
        if let Some(r) = self.rec.as_mut() {
            let _ = r.flush();
        }
        let name = format!(
            "session-{}-{run}.jsonl",
            chrono::Local::now().format("%Y%m%d-%H%M%S")
        );
        let target = spool.with_file_name(name);
        match std::fs::rename(&spool, &target) {
            Ok(()) => Ok(target.display().to_string()),
            Err(e) => {
                self.spool = Some(spool);
                Err(format!("cannot save to {}: {e}", target.display()))
            }
        }
    }

    fn finish(mut self) {
        if let Some(r) = self.rec.as_mut() {
            let _ = r.flush();
        }
        drop(self.rec.take());
        if let Some(spool) = self.spool.take() {
            let _ = std::fs::remove_file(spool);
        }
    }
}

/// Runs the UI until the user quits (q, Ctrl-C) or SIGTERM, then prints a
/// short summary of the run to the normal screen. The terminal (and mouse
/// capture) is restored on every exit path, panics included.
///
/// Errors: `--message-file` unreadable, `--record` not creatable, or a
/// terminal error.
pub async fn run(args: UiArgs, secrets: &Secrets) -> Result<()> {
    let run_id = envelope::new_run_id();
    let plan = links::Plan::from_args(&args.endpoints, secrets)?;
    let body = args.measure.body_options().map_err(anyhow::Error::msg)?;
    let compose_body = match &args.message_file {
        None => String::new(),
        Some(p) => {
            let bytes = std::fs::read(p)
                .with_context(|| format!("--message-file {}: cannot read it", p.display()))?;
            String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("--message-file {}: not UTF-8 text", p.display()))?
        }
    };
    let mut app = App::new(
        &run_id,
        plan.source.display(),
        pane_names(&plan),
        args.burst,
        args.measure.loss_timeout(),
    );
    app.rate = args.measure.rate();
    app.inject = Arc::new(args.measure.inject());
    app.compose_body = compose_body;
    app.tls_unverified = plan.unverified_tls() || plan.unverified_kafka_tls();
    for (d, pane) in plan.dests.iter().zip(app.dests.iter_mut()) {
        pane.expected = d.role == links::Role::Primary;
    }
    let header = SessionHeader {
        run: run_id.clone(),
        source: app.injector.target.clone(),
        destinations: plan
            .dests
            .iter()
            .map(|d| (d.name.clone(), d.role))
            .collect(),
        loss_timeout: args.measure.loss_timeout(),
    };
    let (mut recording, recorded_to) = Recording::start(&args, &header)?;
    app.recording = recorded_to;
    let mut w = links::spawn_with_broker_view(&plan, body, Some(&args.endpoints.rabbitmq_api));
    tracing::info!(run = %run_id, "ui started");
    let mut terminal = ratatui::init();
    let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
        hook(info);
    }));
    let mut keys = EventStream::new();
    let result = ui_loop(&mut terminal, &mut app, &mut w, &mut keys, &mut recording).await;
    w.cancel.cancel();
    // Quitting answers at once; detaching the links may take a moment.
    let started = Instant::now();
    let tasks = futures::future::join_all(std::mem::take(&mut w.tasks));
    tokio::pin!(tasks);
    loop {
        let left = QUIT_GRACE.saturating_sub(started.elapsed());
        let _ = terminal.draw(|f| {
            render::render(f, &app, Instant::now());
            summary::render_quitting(f, left);
        });
        tokio::select! {
            _ = &mut tasks => break,
            _ = tokio::time::sleep(left.min(Duration::from_millis(100))) => {
                if started.elapsed() >= QUIT_GRACE { break; }
            }
            k = keys.next() => match k {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release
                    && (k.code == KeyCode::Char('q')
                        || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL))) => break,
                None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    let _ = crossterm::execute!(std::io::stdout(), DisableMouseCapture);
    ratatui::restore();
    let saved = app.recording.clone();
    recording.finish();
    print!("{}", summary::text(&app, saved.as_deref()));
    tracing::info!("ui stopped");
    result
}

async fn ui_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    w: &mut Workers,
    keys: &mut EventStream,
    recording: &mut Recording,
) -> Result<()> {
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = frame.tick() => {
                let now = Instant::now();
                app.on_tick(now);
                if let Some(r) = recording.rec.as_mut() {
                    if let Err(e) = r.flush() {
                        tracing::warn!(error = %e, "recording stopped");
                        recording.rec = None;
                        app.notice = Some(format!("recording stopped: {e}"));
                    }
                }
                let size = terminal.size()?;
                app.screen = Rect::new(0, 0, size.width, size.height);
                terminal.draw(|f| render::render(f, app, now))?;
            }
            Some(ev) = w.events.recv() => {
                let mut n = 0;
                let mut next = Some(ev);
                while let Some(ev) = next {
                    match recording.rec.as_mut() {
                        Some(r) => app.on_event_with(ev, |ev, v| { let _ = r.event(ev, v); }),
                        None => app.on_event(ev),
                    }
                    n += 1;
                    next = if n < DRAIN_MAX { w.events.try_recv().ok() } else { None };
                }
            }
            k = keys.next() => {
                let cmd = match k {
                    Some(Ok(TermEvent::Key(key))) => app.on_key(key),
                    Some(Ok(TermEvent::Mouse(m))) => app.on_mouse(m),
                    Some(Ok(_)) => None,
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                };
                match cmd {
                    Some(Command::Send(req)) => {
                        let refused = w.requests.try_send(req).is_err();
                        if refused {
                            tracing::warn!("send request dropped: publisher queue full");
                            app.notice = Some("send dropped: the publisher is busy".into());
                        }
                    }
                    Some(Command::Reset) => {
                        let run = envelope::new_run_id();
                        tracing::info!(%run, "statistics reset");
                        app.reset(&run);
                        if let Some(r) = recording.rec.as_mut() {
                            let _ = r.run_started(&run);
                        }
                    }
                    Some(Command::Record) => {
                        app.notice = Some(match &app.recording {
                            Some(p) => file_first("recording to", p),
                            None => match recording.save(app.stats.run()) {
                                Ok(p) => {
                                    app.recording = Some(p.clone());
                                    file_first("saved", &p)
                                }
                                Err(e) => e,
                            },
                        });
                    }
                    None => {}
                }
                if app.quit { return Ok(()); }
            },
            _ = sigterm.recv() => return Ok(()),
        }
    }
}

/// `path` with the home folder written `~` (shorter on a narrow screen).
pub(crate) fn home_relative(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(h) if !h.is_empty() && h != "/" && path.starts_with(&format!("{h}/")) => {
            format!("~{}", &path[h.len()..])
        }
        _ => path.to_owned(),
    }
}

/// `"{what} NAME in DIR"`: the file's name first, so a narrow hints line
/// cuts the folder, not the name.
fn file_first(what: &str, path: &str) -> String {
    let p = std::path::Path::new(path);
    match (p.file_name(), p.parent()) {
        (Some(name), Some(dir)) => format!(
            "{what} {} in {}",
            name.to_string_lossy(),
            home_relative(&dir.to_string_lossy())
        ),
        _ => format!("{what} {}", home_relative(path)),
    }
}
