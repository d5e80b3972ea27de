//! The terminal UI: spawns the I/O tasks, drains their events and redraws
//! at a fixed frame rate, and turns key presses into send requests.

pub mod app;
pub mod render;

use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::UiArgs;
use crate::event::Event;
use crate::{amqp, envelope, kafka};
use app::App;

/// Frame period: about 30 frames per second.
pub const FRAME: Duration = Duration::from_millis(33);
/// Most worker events folded in per wake-up before the loop yields to keys
/// and frames again.
const DRAIN_MAX: usize = 50_000;

/// Names and endpoints of the two destination panes, in destination order:
/// 0 = Kafka topic, 1 = AMQP address.
pub fn destinations(args: &UiArgs) -> Vec<(String, String)> {
    let e = &args.endpoints;
    vec![
        (format!("kafka:{}", e.kafka_topic), e.kafka_brokers.clone()),
        (format!("amqp:{}", e.amqp_target), e.amqp().display_url()),
    ]
}

/// Handles to the running I/O tasks.
pub struct Workers {
    pub events: mpsc::Receiver<Event>,
    pub requests: mpsc::Sender<crate::event::SendRequest>,
    pub cancel: CancellationToken,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the publisher and the two destination consumers.
pub fn spawn_workers(args: &UiArgs) -> Workers {
    let e = &args.endpoints;
    let (ev_tx, events) = mpsc::channel(65_536);
    let (requests, req_rx) = mpsc::channel(1_024);
    let cancel = CancellationToken::new();
    let tasks = vec![
        tokio::spawn(amqp::run_publisher(e.amqp(), e.source.clone(), req_rx, ev_tx.clone(), cancel.clone())),
        tokio::spawn(kafka::run_consumer(e.kafka_brokers.clone(), e.kafka_topic.clone(), 0, ev_tx.clone(), cancel.clone())),
        tokio::spawn(amqp::run_consumer(e.amqp(), e.amqp_target.clone(), 1, ev_tx, cancel.clone())),
    ];
    Workers { events, requests, cancel, tasks }
}

/// Runs the UI until the user quits (q, Ctrl-C) or SIGTERM. The terminal is
/// restored on every exit path (ratatui's panic hook covers panics).
pub async fn run(args: UiArgs) -> Result<()> {
    let run_id = envelope::new_run_id();
    let e = &args.endpoints;
    let mut app = App::new(
        &run_id,
        format!("{} → {}", e.amqp().display_url(), e.source),
        destinations(&args),
        args.burst,
    );
    let mut w = spawn_workers(&args);
    tracing::info!(run = %run_id, "ui started");
    let mut terminal = ratatui::init();
    let result = ui_loop(&mut terminal, &mut app, &mut w).await;
    ratatui::restore();
    w.cancel.cancel();
    // Give the tasks a moment to detach cleanly; never wait long.
    let _ = tokio::time::timeout(Duration::from_millis(1500), futures::future::join_all(w.tasks)).await;
    tracing::info!("ui stopped");
    result
}

async fn ui_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App, w: &mut Workers) -> Result<()> {
    let mut keys = EventStream::new();
    let mut frame = tokio::time::interval(FRAME);
    frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = frame.tick() => {
                terminal.draw(|f| render::render(f, app, Instant::now()))?;
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
                    if let Some(req) = app.on_key(key) {
                        if w.requests.try_send(req).is_err() {
                            tracing::warn!("send request dropped: publisher queue full");
                        }
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
