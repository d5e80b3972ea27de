//! UI state and its pure reducer.
//!
//! [`App::on_event`] folds worker events into the state (the measurement
//! itself in [`RunStats`], shared with `probe` and `report`), [`App::on_tick`]
//! advances time (loss sweep, per-second series), [`App::on_key`] and
//! [`App::on_mouse`] turn input into state changes and commands for the I/O
//! side. None of them does I/O or reads a clock (every instant comes in as
//! an argument), so all are tested without a terminal or a broker.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use hdrhistogram::Histogram;
use ratatui::layout::{Position, Rect};

use super::keys::{self, Action, Mode};
use super::layout;
pub use crate::event::LinkStatus;
use crate::event::{Detail, Event, Inject, Link, SendRequest};
use crate::stats::RunStats;
use crate::tracker::Verdict;

/// Newest messages kept per destination pane (older ones drop off, also
/// while the list is paused).
pub const RECENT_CAP: usize = 500;
/// Newest probes whose arrivals are kept for the trace.
pub const TRACE_CAP: usize = 20_000;
/// Seconds of history kept for the sparklines.
pub const HISTORY_SECS: usize = 120;
/// Largest burst `+` can reach.
pub const MAX_BURST: u32 = 1_000_000;
/// Rows PgUp/PgDn move.
pub const PAGE: usize = 10;
/// How long a notice holds the hints line.
pub const NOTICE_FOR: Duration = Duration::from_secs(8);

/// Messages per second, counted in whole one-second buckets.
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    bucket_start: Option<Instant>,
    current: u64,
    last: u64,
}

impl RateMeter {
    /// Counts one message at `at`.
    pub fn hit(&mut self, at: Instant) {
        match self.bucket_start {
            None => self.bucket_start = Some(at),
            Some(start) => {
                let elapsed = at.saturating_duration_since(start);
                if elapsed >= Duration::from_secs(2) {
                    self.last = 0;
                    self.current = 0;
                    self.bucket_start = Some(at);
                } else if elapsed >= Duration::from_secs(1) {
                    self.last = self.current;
                    self.current = 0;
                    self.bucket_start = Some(start + Duration::from_secs(1));
                }
            }
        }
        self.current += 1;
    }

    /// Messages counted in the last complete second before `now`.
    pub fn per_second(&self, now: Instant) -> u64 {
        match self.bucket_start {
            None => 0,
            Some(start) => {
                let elapsed = now.saturating_duration_since(start);
                if elapsed >= Duration::from_secs(2) {
                    0
                } else if elapsed >= Duration::from_secs(1) {
                    self.current
                } else {
                    self.last
                }
            }
        }
    }
}

/// Per-second history of arrivals and their p99 latency (sparklines).
pub struct Series {
    second_start: Option<Instant>,
    count: u64,
    hist: Histogram<u64>,
    /// `(arrivals, p99 µs)` per closed second, oldest first.
    pub seconds: VecDeque<(u64, u64)>,
}

impl Default for Series {
    fn default() -> Self {
        Series {
            second_start: None,
            count: 0,
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static bounds"),
            seconds: VecDeque::new(),
        }
    }
}

impl Series {
    /// Closes every whole second that ended before `now`.
    pub fn roll(&mut self, now: Instant) {
        let Some(mut start) = self.second_start else {
            self.second_start = Some(now);
            return;
        };
        while now.saturating_duration_since(start) >= Duration::from_secs(1) {
            let p99 = if self.hist.is_empty() {
                0
            } else {
                self.hist.value_at_quantile(0.99)
            };
            self.seconds.push_back((self.count, p99));
            if self.seconds.len() > HISTORY_SECS {
                self.seconds.pop_front();
            }
            self.count = 0;
            self.hist.reset();
            start += Duration::from_secs(1);
        }
        self.second_start = Some(start);
    }

    /// Counts one arrival at `at`, with its latency when it has one.
    pub fn hit(&mut self, at: Instant, latency: Option<Duration>) {
        self.roll(at);
        self.count += 1;
        if let Some(l) = latency {
            let _ = self
                .hist
                .record((l.as_micros() as u64).clamp(1, 3_600_000_000));
        }
    }
}

/// The injector (publisher) pane's link state (its counts are in [`RunStats`]).
#[derive(Debug)]
pub struct Injector {
    /// `amqp://host:port → ADDRESS` (password redacted).
    pub target: String,
    /// The publisher link's state.
    pub status: LinkStatus,
    /// Probes sent per second.
    pub rate: RateMeter,
}

/// One message in a destination pane's list.
#[derive(Debug, Clone)]
pub struct Recent {
    /// Pane-local id, +1 per arrival (the newest has the highest).
    pub id: u64,
    /// Wall-clock arrival time (UTC), for display.
    pub wall: DateTime<Utc>,
    /// Monotonic arrival instant.
    pub at: Instant,
    /// What the tracker made of it (with the latency of this run's probes).
    pub verdict: Verdict,
    /// `(run, seq)` when the body is a probe envelope (any run).
    pub probe: Option<(String, u64)>,
    /// Body size in bytes.
    pub size: usize,
    /// Terminal-safe one-line preview.
    pub preview: String,
    /// Body and protocol fields, when the worker captured them.
    pub detail: Option<Arc<Detail>>,
}

impl Recent {
    /// This run's seq, for probes of this run (not for foreign messages).
    pub fn seq(&self) -> Option<u64> {
        match self.verdict {
            Verdict::Foreign => None,
            _ => self.probe.as_ref().map(|p| p.1),
        }
    }

    /// Whether the lower-cased `needle` occurs in the preview, the Kafka key
    /// or a header / property value.
    pub fn matches(&self, needle: &str) -> bool {
        if needle.is_empty() || self.preview.to_lowercase().contains(needle) {
            return true;
        }
        let hit = |b: &[u8]| String::from_utf8_lossy(b).to_lowercase().contains(needle);
        match self.detail.as_deref().map(|d| &d.proto) {
            Some(crate::event::Proto::Kafka { key, headers, .. }) => {
                key.as_deref().is_some_and(hit)
                    || headers.iter().any(|(_, v)| v.as_deref().is_some_and(hit))
            }
            Some(crate::event::Proto::Amqp {
                properties,
                application_properties,
                annotations,
                ..
            }) => properties
                .iter()
                .chain(application_properties)
                .chain(annotations)
                .any(|(_, v)| v.to_lowercase().contains(needle)),
            None => false,
        }
    }
}

/// One destination pane.
pub struct Destination {
    /// `kafka:FOO` or `amqp:FOO` (with its role when not primary).
    pub name: String,
    /// Where it is read from (`127.0.0.1:9092`, `amqp://localhost:5672`).
    pub endpoint: String,
    /// The consumer link's state.
    pub status: LinkStatus,
    /// Newest first, at most [`RECENT_CAP`]; `recent[i].id == newest_id - i`.
    pub recent: VecDeque<Recent>,
    /// Id of the newest arrival ever (0 before the first).
    pub newest_id: u64,
    /// Arrivals per second.
    pub rate: RateMeter,
    /// Per-second arrivals and p99 for the sparklines.
    pub series: Series,
    /// Whether every probe should arrive here (a primary). Fallback and
    /// dead-letter panes only count what arrives.
    pub expected: bool,
    /// The selected message's id (the list then stops following).
    pub selected: Option<u64>,
    /// While the list does not follow (a selection, or paused): the newest
    /// id it shows; later arrivals are counted, not shown.
    pub frozen_at: Option<u64>,
}

impl Destination {
    fn new(name: String, endpoint: String) -> Self {
        Destination {
            name,
            endpoint,
            status: LinkStatus::Connecting,
            recent: VecDeque::new(),
            newest_id: 0,
            rate: RateMeter::default(),
            series: Series::default(),
            expected: true,
            selected: None,
            frozen_at: None,
        }
    }

    /// Indices into `recent` of what the list shows, newest first: every
    /// message up to `frozen_at` that matches `filter` (lower-cased).
    pub fn visible(&self, filter: &str) -> Vec<usize> {
        let skip = self
            .frozen_at
            .map_or(0, |f| self.newest_id.saturating_sub(f) as usize);
        (skip..self.recent.len())
            .filter(|&i| self.recent[i].matches(filter))
            .collect()
    }

    /// Arrivals since the list stopped following (0 when following).
    pub fn unseen(&self) -> u64 {
        self.frozen_at.map_or(0, |f| self.newest_id - f)
    }

    /// The message with pane id `id`, if still kept.
    pub fn by_id(&self, id: u64) -> Option<&Recent> {
        let i = self.newest_id.checked_sub(id)? as usize;
        self.recent.get(i).filter(|r| r.id == id)
    }
}

/// Where one probe arrived at one destination (for the trace).
#[derive(Debug, Clone)]
pub struct Hit {
    /// Wall-clock arrival time (UTC).
    pub wall: DateTime<Utc>,
    /// End-to-end latency (delivered or late).
    pub latency: Option<Duration>,
    /// The first arrival's detail.
    pub detail: Option<Arc<Detail>>,
}

/// The message inspector's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspector {
    /// Destination pane and message id.
    pub dest: usize,
    /// Message id within the pane ([`Recent::id`]).
    pub id: u64,
    /// First line shown.
    pub scroll: usize,
}

/// The composer's fields, in Tab order.
pub const COMPOSER_FIELDS: [&str; 4] = ["body", "properties", "annotations", "content-type"];

/// The composer (`m`): a body, properties and annotations, sent as the
/// `payload` of probes (so they are still traced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composer {
    /// Body text (JSON is embedded as JSON, anything else as a string).
    pub body: String,
    /// Application properties as `k=v, k2=v2`.
    pub properties: String,
    /// Message annotations as `k=v, k2=v2`.
    pub annotations: String,
    /// The `content-type` property (empty: `application/json`).
    pub content_type: String,
    /// Index into [`COMPOSER_FIELDS`].
    pub field: usize,
    /// Why the last send was refused.
    pub error: Option<String>,
}

impl Composer {
    fn field_mut(&mut self) -> &mut String {
        match self.field {
            0 => &mut self.body,
            1 => &mut self.properties,
            2 => &mut self.annotations,
            _ => &mut self.content_type,
        }
    }

    /// The field texts in [`COMPOSER_FIELDS`] order.
    pub fn fields(&self) -> [&str; 4] {
        [
            &self.body,
            &self.properties,
            &self.annotations,
            &self.content_type,
        ]
    }

    /// What to inject, or why not (a pair that is not `KEY=VALUE`).
    pub fn inject(&self) -> Result<Inject, String> {
        let pairs = |what: &str, s: &str| -> Result<Vec<(String, String)>, String> {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) if !k.trim().is_empty() => {
                        Ok((k.trim().to_owned(), v.trim().to_owned()))
                    }
                    _ => Err(format!("{what}: {p:?} is not KEY=VALUE")),
                })
                .collect()
        };
        let payload = if self.body.is_empty() {
            None
        } else {
            Some(
                serde_json::from_str(&self.body)
                    .unwrap_or_else(|_| serde_json::Value::String(self.body.clone())),
            )
        };
        Ok(Inject {
            content_type: if self.content_type.trim().is_empty() {
                "application/json".into()
            } else {
                self.content_type.trim().to_owned()
            },
            properties: pairs("properties", &self.properties)?,
            annotations: pairs("annotations", &self.annotations)?,
            payload,
        })
    }
}

/// What the I/O side must do after a key press.
#[derive(Debug, Clone)]
pub enum Command {
    /// Send these probes.
    Send(SendRequest),
    /// Start a new run (the caller supplies its id to [`App::reset`]).
    Reset,
    /// Save the session's recording (and keep recording).
    Record,
}

/// The whole UI state.
pub struct App {
    /// The measurement (shared fold with `probe` and `report`).
    pub stats: RunStats,
    /// The newest broker view (`--rabbitmq-api`, Kafka offsets), if any.
    pub broker: Option<Box<crate::broker::BrokerSnapshot>>,
    /// The injector pane's link state.
    pub injector: Injector,
    /// One pane per destination, in plan order.
    pub dests: Vec<Destination>,
    /// Probes per burst (`b`), 1 ..= [`MAX_BURST`].
    pub burst: u32,
    /// Send rate for `s`/`b` (messages per second), `None` = unpaced.
    pub rate: Option<f64>,
    /// Next sequence number to hand to the publisher.
    pub next_seq: u64,
    /// Stops the sends of the current run's requests when it ends (`r`).
    pub run_stop: tokio_util::sync::CancellationToken,
    /// What `s`/`b` inject (`--property`, `--annotation`, `--content-type`).
    pub inject: Arc<Inject>,
    /// What each range of this run's seqs was sent with.
    pub injected: Vec<(Range<u64>, Arc<Inject>)>,
    /// This run's newest probes: seq → per destination, its first arrival.
    pub trace: BTreeMap<u64, Vec<Option<Hit>>>,
    /// The destination pane keys act on (highlighted once `focused`).
    pub focus: usize,
    /// Whether a pane has been focused yet (Tab, a list key or a click):
    /// before that no border is highlighted and Tab focuses the first pane.
    pub focused: bool,
    /// Lower-cased list filter (empty: none).
    pub filter: String,
    /// Typing the filter.
    pub filter_editing: bool,
    /// Lists paused (`p`).
    pub paused: bool,
    /// The open inspector, if any.
    pub inspector: Option<Inspector>,
    /// The open composer, if any.
    pub composer: Option<Composer>,
    /// Whether the help overlay is open.
    pub show_help: bool,
    /// First help line shown (the overlay scrolls on small screens).
    pub help_scroll: usize,
    /// Where the session is being recorded, once saved (`w`, `--record`).
    pub recording: Option<String>,
    /// Whether an AMQPS endpoint skips certificate verification
    /// (`--tls-skip-verify`): a red badge on the injector pane at every
    /// size, and a warning in the quit summary.
    pub tls_unverified: bool,
    /// A one-line notice for the status line (e.g. where `w` saved); it
    /// gives the line back to the key hints [`NOTICE_FOR`] after it was
    /// first drawn (see [`App::on_tick`]).
    pub notice: Option<String>,
    /// When the current notice was first seen by a tick.
    notice_since: Option<(String, Instant)>,
    /// The body the composer starts with (`--message-file`).
    pub compose_body: String,
    /// The screen size of the last frame (mouse hit tests use it).
    pub screen: Rect,
    /// Set by `q` / Ctrl-C: the loop stops.
    pub quit: bool,
}

impl App {
    /// A new UI state for run `run`, injecting at `injector_target`, with one
    /// pane per `(name, endpoint)` destination.
    pub fn new(
        run: &str,
        injector_target: String,
        dests: Vec<(String, String)>,
        burst: u32,
        loss_timeout: Duration,
    ) -> Self {
        App {
            stats: RunStats::new(run, dests.len(), loss_timeout),
            injector: Injector {
                target: injector_target,
                status: LinkStatus::Connecting,
                rate: RateMeter::default(),
            },
            dests: dests
                .into_iter()
                .map(|(name, endpoint)| Destination::new(name, endpoint))
                .collect(),
            burst: burst.clamp(1, MAX_BURST),
            rate: None,
            next_seq: 0,
            run_stop: Default::default(),
            inject: Arc::default(),
            injected: Vec::new(),
            trace: BTreeMap::new(),
            focus: 0,
            focused: false,
            filter: String::new(),
            filter_editing: false,
            paused: false,
            inspector: None,
            broker: None,
            composer: None,
            show_help: false,
            help_scroll: 0,
            recording: None,
            tls_unverified: false,
            notice: None,
            notice_since: None,
            compose_body: String::new(),
            screen: Rect::new(0, 0, 80, 24),
            quit: false,
        }
    }

    /// The keyboard mode: which overlay or text field has the keys.
    pub fn mode(&self) -> Mode {
        if self.show_help {
            Mode::Help
        } else if self.composer.is_some() {
            Mode::Composer
        } else if self.inspector.is_some() {
            Mode::Inspector
        } else if self.filter_editing {
            Mode::Filter
        } else {
            Mode::Main
        }
    }

    /// Starts run `run`: every counter, latency, series and list back to
    /// empty (link statuses stay).
    pub fn reset(&mut self, run: &str) {
        // what the old run still has to send is not sent
        self.run_stop.cancel();
        self.run_stop = Default::default();
        self.stats = RunStats::new(run, self.dests.len(), self.stats.tracker.loss_timeout());
        self.next_seq = 0;
        self.injected.clear();
        self.trace.clear();
        self.inspector = None;
        self.injector.rate = RateMeter::default();
        for d in &mut self.dests {
            d.rate = RateMeter::default();
            d.series = Series::default();
            d.recent.clear();
            d.selected = None;
            d.frozen_at = self.paused.then_some(d.newest_id);
        }
    }

    /// Empties the lists (the run and its figures stay).
    pub fn clear_lists(&mut self) {
        self.inspector = None;
        for d in &mut self.dests {
            d.recent.clear();
            d.selected = None;
            d.frozen_at = self.paused.then_some(d.newest_id);
        }
    }

    /// The diagnoses at `now` ([`crate::diagnose`]): one for the source
    /// side (injector pane) and one per destination pane.
    pub fn diagnoses(&self, now: Instant) -> crate::diagnose::Diagnoses {
        let names: Vec<(String, crate::links::Role)> = self
            .dests
            .iter()
            .map(|d| {
                let role = if d.expected {
                    crate::links::Role::Primary
                } else {
                    crate::links::Role::Fallback
                };
                (d.name.clone(), role)
            })
            .collect();
        let links: Vec<&LinkStatus> = self.dests.iter().map(|d| &d.status).collect();
        crate::diagnose::diagnose(&crate::diagnose::Inputs {
            stats: &self.stats,
            names: &names,
            source: super::injector::source_name(self),
            injector: &self.injector.status,
            links: &links,
            broker: self.broker.as_deref(),
            now,
        })
    }

    fn status_mut(&mut self, link: Link) -> Option<&mut LinkStatus> {
        match link {
            Link::Injector => Some(&mut self.injector.status),
            Link::Dest(i) => self.dests.get_mut(i).map(|d| &mut d.status),
        }
    }

    /// Advances time to `now`: declares overdue probes lost and closes the
    /// per-second series.
    pub fn on_tick(&mut self, now: Instant) {
        match (&self.notice, &self.notice_since) {
            (Some(n), Some((seen, at))) if n == seen => {
                if now.saturating_duration_since(*at) >= NOTICE_FOR {
                    self.notice = None;
                    self.notice_since = None;
                }
            }
            (Some(n), _) => self.notice_since = Some((n.clone(), now)),
            (None, _) => self.notice_since = None,
        }
        self.stats.sweep(now);
        for d in &mut self.dests {
            d.series.roll(now);
        }
    }

    /// Folds one worker event into the state.
    pub fn on_event(&mut self, ev: Event) {
        self.on_event_with(ev, |_, _| {});
    }

    /// [`App::on_event`], showing the event and its verdict to `observe`
    /// first (the recorder writes it).
    pub fn on_event_with(&mut self, ev: Event, observe: impl FnOnce(&Event, Option<Verdict>)) {
        let verdict = self.stats.apply(&ev);
        observe(&ev, verdict);
        if let Some((link, status)) = LinkStatus::after(&ev) {
            if let Some(s) = self.status_mut(link) {
                *s = status;
            }
        }
        match ev {
            Event::Up { .. }
            | Event::Down { .. }
            | Event::Refused { .. }
            | Event::Waiting { .. } => {}
            Event::Sent { run, at, .. } if run == self.stats.run() => self.injector.rate.hit(at),
            Event::Sent { .. } | Event::Confirmed { .. } | Event::Failed { .. } => {}
            Event::Broker(b) => self.broker = Some(b),
            Event::Arrived(a) => {
                let verdict = verdict.unwrap_or(Verdict::Foreign);
                let ndest = self.dests.len();
                let Some(d) = self.dests.get_mut(a.dest) else {
                    return;
                };
                d.rate.hit(a.at);
                let latency = match verdict {
                    Verdict::Delivered { latency, .. } | Verdict::Late { latency } => Some(latency),
                    _ => None,
                };
                d.series.hit(
                    a.at,
                    matches!(verdict, Verdict::Delivered { .. })
                        .then_some(latency)
                        .flatten(),
                );
                let detail: Option<Arc<Detail>> = a.detail.map(Arc::from);
                if let (Some(l), Some((_, seq))) = (latency, &a.probe) {
                    let hits = self.trace.entry(*seq).or_insert_with(|| vec![None; ndest]);
                    if let Some(h @ None) = hits.get_mut(a.dest) {
                        *h = Some(Hit {
                            wall: a.wall,
                            latency: Some(l),
                            detail: detail.clone(),
                        });
                    }
                    while self.trace.len() > TRACE_CAP {
                        self.trace.pop_first();
                    }
                }
                d.newest_id += 1;
                d.recent.push_front(Recent {
                    id: d.newest_id,
                    wall: a.wall,
                    at: a.at,
                    verdict,
                    probe: a.probe,
                    size: a.size,
                    preview: a.preview,
                    detail,
                });
                d.recent.truncate(RECENT_CAP);
            }
        }
    }

    /// Allocates the next `n` seqs of this run as a send request with `inject`.
    fn request(&mut self, n: u32, inject: Arc<Inject>) -> SendRequest {
        let start = self.next_seq;
        self.next_seq += u64::from(n);
        match self.injected.last_mut() {
            Some((r, i)) if Arc::ptr_eq(i, &inject) && r.end == start => r.end = self.next_seq,
            _ => self.injected.push((start..self.next_seq, inject.clone())),
        }
        SendRequest {
            run: self.stats.run().to_owned(),
            seqs: start..self.next_seq,
            rate: self.rate,
            inject,
            stop: self.run_stop.clone(),
        }
    }

    /// What probe `seq` of this run was sent with.
    pub fn injected_with(&self, seq: u64) -> Option<&Arc<Inject>> {
        self.injected
            .iter()
            .find(|(r, _)| r.contains(&seq))
            .map(|(_, i)| i)
    }

    /// Opens the composer, its body prefilled with `body` (`--message-file`).
    pub fn open_composer(&mut self, body: &str) {
        self.composer = Some(Composer {
            body: body.to_owned(),
            properties: join_pairs(&self.inject.properties),
            annotations: join_pairs(&self.inject.annotations),
            content_type: self.inject.content_type.clone(),
            field: 0,
            error: None,
        });
    }

    fn move_selection(&mut self, to: impl FnOnce(usize, usize) -> usize) {
        self.focused = true;
        let filter = self.filter.clone();
        let paused = self.paused;
        let Some(d) = self.dests.get_mut(self.focus) else {
            return;
        };
        if d.frozen_at.is_none() {
            d.frozen_at = Some(d.newest_id);
        }
        let vis = d.visible(&filter);
        if vis.is_empty() {
            if !paused && d.selected.is_none() {
                d.frozen_at = None;
            }
            return;
        }
        let cur = d
            .selected
            .and_then(|id| vis.iter().position(|&i| d.recent[i].id <= id))
            .unwrap_or(0);
        let next = if d.selected.is_none() {
            0
        } else {
            to(cur, vis.len()).min(vis.len() - 1)
        };
        d.selected = Some(d.recent[vis[next]].id);
    }

    fn follow(&mut self) {
        let paused = self.paused;
        if let Some(d) = self.dests.get_mut(self.focus) {
            d.selected = None;
            if !paused {
                d.frozen_at = None;
            }
        }
    }

    fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        for d in &mut self.dests {
            if paused {
                d.frozen_at.get_or_insert(d.newest_id);
            } else if d.selected.is_none() {
                d.frozen_at = None;
            }
        }
    }

    /// Handles a key press; returns what the I/O side must do. Bindings are
    /// the table in [`keys::BINDINGS`]; text fields take printable keys.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let mode = self.mode();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        // Text fields take printable characters and Backspace.
        if matches!(mode, Mode::Filter | Mode::Composer) && !ctrl {
            let text = match mode {
                Mode::Filter => Some(&mut self.filter),
                _ => self.composer.as_mut().map(Composer::field_mut),
            };
            if let Some(text) = text {
                match key.code {
                    KeyCode::Char(c) => {
                        text.push(if mode == Mode::Filter {
                            c.to_ascii_lowercase()
                        } else {
                            c
                        });
                        return None;
                    }
                    KeyCode::Backspace => {
                        text.pop();
                        return None;
                    }
                    _ => {}
                }
            }
        }
        let action = keys::action(mode, &key)?;
        self.on_action(mode, action)
    }

    /// Carries out `action` in `mode`.
    pub fn on_action(&mut self, mode: Mode, action: Action) -> Option<Command> {
        let ndest = self.dests.len().max(1);
        match (mode, action) {
            (_, Action::Quit) => self.quit = true,
            (_, Action::ToggleHelp) => {
                self.show_help = !self.show_help;
                self.help_scroll = 0;
            }
            (Mode::Help, Action::Back) => self.show_help = false,
            (Mode::Composer, Action::Back) => self.composer = None,
            (Mode::Inspector, Action::Back) => self.inspector = None,
            (Mode::Filter, Action::Back) => {
                self.filter.clear();
                self.filter_editing = false;
            }
            (Mode::Filter, Action::Apply) => self.filter_editing = false,
            (Mode::Main, Action::Back) => {
                if self
                    .dests
                    .get(self.focus)
                    .is_some_and(|d| d.selected.is_some())
                {
                    self.follow();
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                } else if self.paused {
                    self.set_paused(false);
                }
            }
            (_, Action::SendOne) => {
                let inject = self.inject.clone();
                return Some(Command::Send(self.request(1, inject)));
            }
            (_, Action::SendBurst) => {
                let inject = self.inject.clone();
                return Some(Command::Send(self.request(self.burst, inject)));
            }
            (_, Action::BurstUp) => self.burst = self.burst.saturating_mul(2).min(MAX_BURST),
            (_, Action::BurstDown) => self.burst = (self.burst / 2).max(1),
            (_, Action::Reset) => return Some(Command::Reset),
            (_, Action::Record) => return Some(Command::Record),
            (_, Action::ClearLists) => self.clear_lists(),
            (_, Action::TogglePause) => self.set_paused(!self.paused),
            (_, Action::StartFilter) => self.filter_editing = true,
            (_, Action::Compose) => {
                let t = self.compose_body.clone();
                self.open_composer(&t);
            }
            (_, Action::FocusNext) if !self.focused => (self.focused, self.focus) = (true, 0),
            (_, Action::FocusPrev) if !self.focused => {
                (self.focused, self.focus) = (true, ndest - 1)
            }
            (_, Action::FocusNext) => self.focus = (self.focus + 1) % ndest,
            (_, Action::FocusPrev) => self.focus = (self.focus + ndest - 1) % ndest,
            (Mode::Help, a) => {
                let s = self.help_scroll;
                self.help_scroll = match a {
                    Action::Up => s.saturating_sub(1),
                    Action::Down => s + 1,
                    Action::PageUp => s.saturating_sub(PAGE),
                    Action::PageDown => s + PAGE,
                    Action::Top => 0,
                    Action::Bottom => usize::MAX,
                    _ => s,
                }
                .min(super::help::max_scroll(self.screen));
            }
            (Mode::Inspector, a) => {
                // never past the end: the way back starts at the last line
                let max = self
                    .inspector
                    .as_ref()
                    .map_or(0, |i| super::inspector::max_scroll(self, i, self.screen));
                if let Some(i) = self.inspector.as_mut() {
                    i.scroll = match a {
                        Action::Up => i.scroll.saturating_sub(1),
                        Action::Down => i.scroll + 1,
                        Action::PageUp => i.scroll.saturating_sub(PAGE),
                        Action::PageDown => i.scroll + PAGE,
                        Action::Top => 0,
                        Action::Bottom => usize::MAX,
                        _ => i.scroll,
                    }
                    .min(max);
                }
            }
            (_, Action::Up) => self.move_selection(|c, _| c.saturating_sub(1)),
            (_, Action::Down) => self.move_selection(|c, _| c + 1),
            (_, Action::PageUp) => self.move_selection(|c, _| c.saturating_sub(PAGE)),
            (_, Action::PageDown) => self.move_selection(|c, _| c + PAGE),
            (_, Action::Top) => self.move_selection(|_, _| 0),
            (_, Action::Bottom) => self.move_selection(|_, n| n - 1),
            (_, Action::Follow) => self.follow(),
            (_, Action::Inspect) => {
                let filter = self.filter.clone();
                if let Some(d) = self.dests.get(self.focus) {
                    let id = d
                        .selected
                        .or_else(|| d.visible(&filter).first().map(|&i| d.recent[i].id));
                    if let Some(id) = id {
                        self.inspector = Some(Inspector {
                            dest: self.focus,
                            id,
                            scroll: 0,
                        });
                    }
                }
            }
            (Mode::Composer, Action::NextField) | (Mode::Composer, Action::PrevField) => {
                if let Some(c) = self.composer.as_mut() {
                    let n = COMPOSER_FIELDS.len();
                    c.field = if action == Action::NextField {
                        (c.field + 1) % n
                    } else {
                        (c.field + n - 1) % n
                    };
                }
            }
            (Mode::Composer, Action::ComposeSend) | (Mode::Composer, Action::ComposeBurst) => {
                let c = self.composer.as_mut()?;
                match c.inject() {
                    Err(e) => c.error = Some(e),
                    Ok(inject) => {
                        self.composer = None;
                        let n = if action == Action::ComposeBurst {
                            self.burst
                        } else {
                            1
                        };
                        return Some(Command::Send(self.request(n, Arc::new(inject))));
                    }
                }
            }
            _ => {}
        }
        None
    }

    /// Handles the mouse: a click focuses the pane under the pointer, the
    /// wheel scrolls the list under it (the inspector when it is open).
    pub fn on_mouse(&mut self, m: MouseEvent) -> Option<Command> {
        let pos = Position::new(m.column, m.row);
        let injector_h = super::injector::height(self, self.screen.width, Instant::now());
        let pane = layout::screen(self.screen, self.dests.len(), injector_h)
            .and_then(|s| s.panes.iter().position(|r| r.contains(pos)));
        let action = match m.kind {
            MouseEventKind::ScrollUp => Action::Up,
            MouseEventKind::ScrollDown => Action::Down,
            MouseEventKind::Down(_) => {
                if self.mode() == Mode::Main {
                    if let Some(p) = pane {
                        (self.focused, self.focus) = (true, p);
                    }
                }
                return None;
            }
            _ => return None,
        };
        let mode = self.mode();
        match mode {
            Mode::Inspector => self.on_action(mode, action),
            Mode::Main => {
                if let Some(p) = pane {
                    (self.focused, self.focus) = (true, p);
                }
                self.on_action(mode, action)
            }
            _ => None,
        }
    }
}

fn join_pairs(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_closes_seconds_with_p99() {
        let t0 = Instant::now();
        let mut s = Series::default();
        s.roll(t0);
        for i in 0..100u64 {
            s.hit(
                t0 + Duration::from_millis(i),
                Some(Duration::from_millis(i + 1)),
            );
        }
        s.roll(t0 + Duration::from_millis(2_500));
        assert_eq!(s.seconds.len(), 2);
        let (n, p99) = s.seconds[0];
        assert_eq!(n, 100);
        assert!((98_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(s.seconds[1], (0, 0));
    }

    #[test]
    fn rate_meter_reports_last_whole_second() {
        let t0 = Instant::now();
        let mut r = RateMeter::default();
        for i in 0..50u64 {
            r.hit(t0 + Duration::from_millis(i * 10));
        }
        r.hit(t0 + Duration::from_millis(1_100));
        assert_eq!(r.per_second(t0 + Duration::from_millis(1_200)), 50);
        assert_eq!(r.per_second(t0 + Duration::from_millis(5_000)), 0);
    }

    #[test]
    fn composer_parses_pairs_and_wraps_the_body() {
        let mut c = Composer {
            body: "{\"a\":1}".into(),
            properties: "tenant=acme, x = y".into(),
            annotations: "".into(),
            content_type: "".into(),
            field: 0,
            error: None,
        };
        let i = c.inject().unwrap();
        assert_eq!(i.payload, Some(serde_json::json!({"a": 1})));
        assert_eq!(
            i.properties,
            [("tenant".into(), "acme".into()), ("x".into(), "y".into())]
        );
        assert_eq!(i.content_type, "application/json");
        c.body = "hello".into();
        assert_eq!(
            c.inject().unwrap().payload,
            Some(serde_json::json!("hello"))
        );
        c.annotations = "oops".into();
        assert!(
            c.inject()
                .unwrap_err()
                .contains("\"oops\" is not KEY=VALUE")
        );
    }
}
