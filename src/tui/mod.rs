//! The terminal UI: spawns the I/O tasks, drains their events and redraws
//! at a fixed frame rate, and turns key presses into send requests.

pub mod app;
pub mod render;

use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;

use crate::cli::UiArgs;
use crate::envelope;
use crate::links::{self, Workers};
use app::{App, Command};

/// Frame period: about 30 frames per second.
pub const FRAME: Duration = Duration::from_millis(33);
/// Most worker events folded in per wake-up before the loop yields to keys
/// and frames again.
const DRAIN_MAX: usize = 50_000;

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

/// Runs the UI until the user quits (q, Ctrl-C) or SIGTERM. The terminal is
/// restored on every exit path (ratatui's panic hook covers panics).
pub async fn run(args: UiArgs) -> Result<()> {
    let run_id = envelope::new_run_id();
    let plan = links::Plan::from_args(&args.endpoints)?;
    let body = args.measure.body_options().map_err(anyhow::Error::msg)?;
    let mut app = App::new(
        &run_id,
        format!("{} → {}", plan.source.display_url(), plan.source_address),
        pane_names(&plan),
        args.burst,
        args.measure.loss_timeout(),
    );
    app.rate = args.measure.rate();
    for (d, pane) in plan.dests.iter().zip(app.dests.iter_mut()) {
        pane.expected = d.role == links::Role::Primary;
    }
    let mut w = links::spawn(&plan, body);
    tracing::info!(run = %run_id, "ui started");
    let mut terminal = ratatui::init();
    let result = ui_loop(&mut terminal, &mut app, &mut w).await;
    ratatui::restore();
    w.cancel.cancel();
    // Give the tasks a moment to detach cleanly; never wait long.
    let _ = tokio::time::timeout(
        Duration::from_millis(1500),
        futures::future::join_all(w.tasks),
    )
    .await;
    tracing::info!("ui stopped");
    result
}

async fn ui_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    w: &mut Workers,
) -> Result<()> {
    let mut keys = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = frame.tick() => {
                let now = Instant::now();
                app.on_tick(now);
                terminal.draw(|f| render::render(f, app, now))?;
            }
            Some(ev) = w.events.recv() => {
                app.on_event(ev);
                let mut n = 1;
                while n < DRAIN_MAX {
                    match w.events.try_recv() {
                        Ok(ev) => { app.on_event(ev); n += 1; }
                        Err(_) => break,
                    }
                }
            }
            k = keys.next() => match k {
                Some(Ok(TermEvent::Key(key))) => {
                    match app.on_key(key) {
                        Some(Command::Send(req)) => {
                            let full = w.requests.try_send(req).is_err();
                            if full {
                                tracing::warn!("send request dropped: publisher queue full");
                            }
                        }
                        Some(Command::Reset) => {
                            let run = envelope::new_run_id();
                            tracing::info!(%run, "statistics reset");
                            app.reset(&run);
                        }
                        None => {}
                    }
                    if app.quit { return Ok(()); }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            _ = sigterm.recv() => return Ok(()),
        }
    }
}
