//! `streamprobe probe`: the headless run for CI smoke tests of a real
//! deployment. The same I/O tasks and accounting as the UI feed one
//! [`Report`], printed as a table or as JSON.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::ProbeArgs;
use crate::event::{Event, Link, LinkStatus, SendRequest};
use crate::latency::{Summary, fmt_us};
use crate::links::{self, Role};
use crate::record::{Recorder, SessionHeader};
use crate::secrets::Secrets;
use crate::stats::RunStats;
use crate::tracker::Verdict;

/// Extra wait after every probe is accounted for, to catch duplicates that
/// arrive right behind the first copy.
const GRACE: Duration = Duration::from_millis(500);

/// One link's state while `probe` waits for every link to come up.
struct LinkWait {
    link: Link,
    /// The link's last error text (from `Event::Down` / `Event::Refused`).
    error: Option<String>,
    up: bool,
    /// Refused for a reason a retry does not fix (`Event::Refused`).
    refused: bool,
}

/// After a link is refused, how long the probe still waits for the other
/// links' answers before it exits, so every refused link is named.
const REFUSED_GRACE: Duration = Duration::from_secs(1);

/// How much older RabbitMQ's management figures can be than the moment
/// they are asked for: the local stack's `collect_statistics_interval`
/// (1 s, scripts/stack.sh) plus a margin. RabbitMQ's default is 5 s; with
/// it the report's queue figures can be up to 5 s old.
const STATS_LAG: Duration = Duration::from_millis(1200);

/// The longest the report waits at the end for a broker snapshot that
/// covers the whole run.
const FINAL_SNAPSHOT_WAIT: Duration = Duration::from_secs(4);

/// Waits (at most [`FINAL_SNAPSHOT_WAIT`]) for a broker snapshot both of
/// whose parts were asked for [`STATS_LAG`] after `end`, so the report's
/// broker figures (queue depth, consumers, end offsets) describe the run
/// as it ended, not as it was a poll earlier. Events other than broker
/// snapshots that come meanwhile are not counted: the run is over.
async fn final_snapshot(
    events: &mut tokio::sync::mpsc::Receiver<Event>,
    end: Instant,
) -> Option<Box<crate::broker::BrokerSnapshot>> {
    let wanted = end + STATS_LAG;
    let deadline = tokio::time::Instant::now() + FINAL_SNAPSHOT_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::Broker(b))) if b.taken_after(wanted) => return Some(b),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

/// One destination in the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DestReport {
    /// `kafka:<topic>` or `amqp:<address>`.
    pub name: String,
    /// `primary`, `fallback` or `dead_letter` (from `--stream`; else primary).
    /// Only primaries must receive every probe; `lost` is 0 for the others.
    pub role: Role,
    /// Distinct probes delivered in time.
    pub received: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Not seen within the loss timeout (and still missing).
    pub lost: u64,
    /// Seen after being declared lost.
    pub late: u64,
    /// Messages that were not probes of this run.
    pub foreign: u64,
    /// End-to-end latency of delivered probes, microseconds; `null` in
    /// JSON when no probe was delivered (never zeros).
    #[serde(serialize_with = "summary_or_null")]
    pub latency_us: Summary,
    /// When the last probe arrived here, ms after the first send (`None`,
    /// JSON `null`: nothing arrived).
    pub last_arrival_ms: Option<u64>,
    /// `received` per second from the first send to `last_arrival_ms`.
    pub throughput_per_s: f64,
    /// Kafka destinations: the partitions probes were delivered from
    /// (ascending; order is judged within each). `None` for AMQP.
    pub partitions: Option<Vec<i32>>,
    /// Kafka destinations: the latency split at the record timestamp
    /// ([`crate::stats::KafkaSplit`]); `None` for AMQP or without samples.
    pub kafka_split: Option<SplitReport>,
    /// What the broker says about this destination at the end of the run
    /// (queue or topic figures; `null` when unknown or the view is off).
    pub broker: Option<crate::broker::DestBrokerView>,
}

/// The source in the report: what was injected into, and what its broker
/// says about it at the end of the run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceReport {
    /// `amqp:<address>` or `kafka:<topic>`.
    pub name: String,
    /// Where, safe to show (`amqp://localhost:5672 → EXTERNAL`).
    pub endpoint: String,
    /// The source's route and queues (AMQP) or partitions and consumer
    /// groups (Kafka); `null` when unknown.
    pub broker: Option<crate::broker::DestBrokerView>,
    /// Why the RabbitMQ figures are missing, one line (`broker view off:
    /// ...`); `null` when the management API answered.
    pub broker_off: Option<String>,
}

/// A Kafka destination's latency split at the record timestamp.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SplitReport {
    /// `produce` (records carry the stream producer's CreateTime) or
    /// `append` (the topic stamps LogAppendTime: the broker's append).
    pub at: &'static str,
    /// Inject → produce (or append), µs.
    pub to_timestamp_us: Summary,
    /// Produce (or append) → our consumer, µs.
    pub from_timestamp_us: Summary,
}

/// The whole report (`--json` prints exactly this object).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub run_id: String,
    /// Probes requested (`--count`).
    pub requested: u64,
    /// Probes handed to the AMQP link.
    pub sent: u64,
    /// Probes RabbitMQ settled as Accepted.
    pub confirmed: u64,
    /// Probes not accepted or not sendable.
    pub failed: u64,
    /// Publish-to-settle latency, microseconds (`null` without samples).
    #[serde(serialize_with = "summary_or_null")]
    pub publish_settle_us: Summary,
    /// Sender lag of paced probes (actual − intended send time on the
    /// sender's monotonic clock), microseconds; `null` when unpaced.
    #[serde(serialize_with = "summary_or_null")]
    pub sender_lag_us: Summary,
    pub destinations: Vec<DestReport>,
    /// The source and its broker figures (`null` in a report replayed from
    /// a recording, which holds no broker view).
    pub source: Option<SourceReport>,
    /// Whether the run passed (exit code 0).
    pub passed: bool,
    /// Why it did not pass (empty when it did).
    pub problems: Vec<String>,
    /// What the reader must know whether or not it passed, e.g. that TLS
    /// certificates were not verified (`--tls-skip-verify`).
    pub warnings: Vec<String>,
}

impl Report {
    /// Builds the report from a run's measurement and judges it: it passes
    /// when every requested probe was confirmed and delivered exactly once
    /// to every primary destination within the loss timeout, and, with
    /// `max_p99_ms`, every primary's p99 is within it. Out-of-order delivery
    /// and foreign messages are reported but do not fail the run. A probe
    /// still pending at a primary counts as lost (the run is over).
    pub fn new(
        stats: &RunStats,
        names: &[(String, Role)],
        requested: u64,
        max_p99_ms: Option<f64>,
    ) -> Report {
        let t = &stats.tracker;
        let last_arrival = &stats.last_arrival;
        let (sent, confirmed, failed) = (stats.sent, stats.confirmed, stats.failed);
        let destinations: Vec<DestReport> = names
            .iter()
            .enumerate()
            .map(|(i, (name, role))| {
                let d = t.dest(i);
                let primary = *role == Role::Primary;
                DestReport {
                    name: name.clone(),
                    role: *role,
                    received: d.delivered,
                    duplicates: d.duplicates,
                    out_of_order: d.out_of_order,
                    lost: if primary { d.lost + t.pending(i) } else { 0 },
                    late: d.late,
                    foreign: d.foreign,
                    latency_us: d.latency.cumulative(),
                    last_arrival_ms: last_arrival
                        .get(i)
                        .filter(|_| d.delivered > 0)
                        .map(|d| d.as_millis() as u64),
                    partitions: name.starts_with("kafka:").then(|| d.partitions()),
                    kafka_split: stats.split.get(i).and_then(|s| {
                        Some(SplitReport {
                            at: s.point()?,
                            to_timestamp_us: s.to_timestamp.cumulative(),
                            from_timestamp_us: s.from_timestamp.cumulative(),
                        })
                    }),
                    broker: None,
                    throughput_per_s: match last_arrival.get(i) {
                        Some(span) if !span.is_zero() => {
                            (d.delivered as f64 / span.as_secs_f64() * 10.0).round() / 10.0
                        }
                        _ => 0.0,
                    },
                }
            })
            .collect();
        let mut problems = Vec::new();
        if sent < requested {
            problems.push(format!("only {sent} of {requested} probes were sent"));
        }
        if failed > 0 || confirmed < sent {
            problems.push(format!(
                "{} of {sent} sends were not confirmed by the broker",
                sent - confirmed.min(sent)
            ));
        }
        for d in destinations.iter().filter(|d| d.role == Role::Primary) {
            if d.received < requested {
                problems.push(format!(
                    "{}: {} of {requested} probes received",
                    d.name, d.received
                ));
            }
            for (n, what) in [
                (d.lost, "lost"),
                (d.late, "late"),
                (d.duplicates, "duplicates"),
            ] {
                if n > 0 {
                    problems.push(format!("{}: {n} {what}", d.name));
                }
            }
            if let Some(limit) = max_p99_ms {
                let p99_ms = d.latency_us.p99 as f64 / 1000.0;
                if d.latency_us.count > 0 && p99_ms > limit {
                    problems.push(format!(
                        "{}: p99 {} exceeds --max-p99 {limit} ms",
                        d.name,
                        fmt_us(d.latency_us.p99)
                    ));
                }
            }
        }
        Report {
            run_id: t.run().to_owned(),
            requested,
            sent,
            confirmed,
            failed,
            publish_settle_us: stats.settle.cumulative(),
            sender_lag_us: stats.sender_lag.cumulative(),
            destinations,
            source: None,
            passed: problems.is_empty(),
            problems,
            warnings: Vec::new(),
        }
    }

    /// A plain-text table.
    pub fn to_text(&self) -> String {
        let s = &self.publish_settle_us;
        let mut out = format!(
            "run {}: requested {}, sent {}, confirmed {}, failed {}; publish→settle p50 {} p99 {} (n={})\n",
            self.run_id,
            self.requested,
            self.sent,
            self.confirmed,
            self.failed,
            fmt_us(s.p50),
            fmt_us(s.p99),
            s.count
        );
        // the warnings first, in their order
        let warnings: String = self
            .warnings
            .iter()
            .map(|w| format!("WARNING: {w}\n"))
            .collect();
        out.insert_str(0, &warnings);
        let lag = &self.sender_lag_us;
        if lag.count > 0 {
            out.push_str(&format!(
                "sender lag (actual − intended send time) p50 {} p99 {} max {}\n",
                fmt_us(lag.p50),
                fmt_us(lag.p99),
                fmt_us(lag.max)
            ));
        }
        out.push('\n');
        out.push_str(&format!(
            "{:<24} {:>9} {:>6} {:>6} {:>6} {:>6} {:>8}  {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}\n",
            "destination",
            "received",
            "dup",
            "ooo",
            "lost",
            "late",
            "foreign",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "n"
        ));
        let mut rates = String::new();
        for d in &self.destinations {
            rates.push_str(&format!(
                "{}: {:.0} msg/s ({})\n",
                d.name,
                d.throughput_per_s,
                match d.last_arrival_ms {
                    Some(ms) => format!("last arrival {ms} ms after the first send"),
                    None => "nothing arrived".to_owned(),
                }
            ));
        }
        if let Some(s) = &self.source {
            let figures = match (&s.broker, &s.broker_off) {
                (Some(b), _) => b.summary(),
                (None, Some(off)) => off.clone(),
                (None, None) => "no broker figures".into(),
            };
            rates.push_str(&format!("source {}: {figures}\n", s.name));
        }
        for d in &self.destinations {
            let mut parts = Vec::new();
            if let Some(b) = &d.broker {
                parts.push(b.summary());
            }
            if let Some(s) = &d.kafka_split {
                let (a, b) = (&s.to_timestamp_us, &s.from_timestamp_us);
                parts.push(format!(
                    "inject → {at} p50 {} p99 {}, {at} → consume p50 {} p99 {}{}",
                    fmt_us(a.p50),
                    fmt_us(a.p99),
                    fmt_us(b.p50),
                    fmt_us(b.p99),
                    if s.at == "append" {
                        " (the topic stamps LogAppendTime)"
                    } else {
                        ""
                    },
                    at = s.at,
                ));
            }
            if let Some(p) = d.partitions.as_ref().filter(|p| !p.is_empty()) {
                let list: Vec<String> = p.iter().map(i32::to_string).collect();
                parts.push(format!("partitions {}", list.join(",")));
            }
            if !parts.is_empty() {
                rates.push_str(&format!("{}: {}\n", d.name, parts.join("; ")));
            }
        }
        let us = |v: u64, n: u64| if n == 0 { "-".to_owned() } else { fmt_us(v) };
        for d in &self.destinations {
            let l = &d.latency_us;
            let n = l.count;
            out.push_str(&format!(
                "{:<24} {:>9} {:>6} {:>6} {:>6} {:>6} {:>8}  {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}\n",
                if d.role == Role::Primary {
                    d.name.clone()
                } else {
                    format!("{} ({})", d.name, d.role.label())
                },
                d.received,
                d.duplicates,
                d.out_of_order,
                d.lost,
                d.late,
                d.foreign,
                us(l.p50, n),
                us(l.p90, n),
                us(l.p99, n),
                us(l.p999, n),
                us(l.max, n),
                n
            ));
        }
        out.push_str("(latency: end to end, from the sender's monotonic clock)\n");
        out.push_str(&rates);
        out.push('\n');
        if self.passed {
            out.push_str("PASS: every probe delivered exactly once to every destination\n");
        } else {
            out.push_str("FAIL:\n");
            for p in &self.problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
        out
    }
}

/// A latency summary as JSON, or `null` when it has no samples (a
/// destination that received nothing has no p50, not a p50 of 0).
fn summary_or_null<S: serde::Serializer>(s: &Summary, ser: S) -> Result<S::Ok, S::Error> {
    if s.count == 0 {
        ser.serialize_none()
    } else {
        ser.serialize_some(s)
    }
}

/// `--record FILE` while the probe runs: a write error stops the recording
/// with a warning (the run and its report go on).
struct Tape {
    path: std::path::PathBuf,
    rec: Option<Recorder>,
}

impl Tape {
    fn check(&mut self, r: std::io::Result<()>) {
        if let Err(e) = r {
            eprintln!(
                "streamprobe probe: --record {}: {e}; recording stopped",
                self.path.display()
            );
            self.rec = None;
        }
    }

    fn event(&mut self, ev: &Event, v: Option<Verdict>) {
        if let Some(rec) = &mut self.rec {
            let r = rec.event(ev, v);
            self.check(r);
        }
    }

    fn flush(&mut self) {
        if let Some(rec) = &mut self.rec {
            let r = rec.flush();
            self.check(r);
        }
    }
}

/// Why a probe run could not start or finish (exit 2). With `--json` it is
/// printed as `{"passed": false, "error": {...}}`, so `probe --json | jq`
/// always reads one object.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunError {
    /// `config` (a flag, file or stream definition is wrong), `connect` (a
    /// link did not come up in time), `refused` (a broker refused the
    /// credentials or a link for a reason a retry does not fix, e.g.
    /// RabbitMQ's PRECONDITION_FAILED: reported at once, not after
    /// `--connect-timeout`) or `internal`.
    pub kind: &'static str,
    /// One human-readable line (or a few), never a password.
    pub message: String,
    /// For `connect`: every link that was not up, with the last error seen.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkError>,
}

/// A link that did not come up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinkError {
    /// `injector` or the destination's name (`kafka:FOO`).
    pub link: String,
    /// Where it connects, safe to show (`amqp://localhost:5672 → EXTERNAL`).
    pub endpoint: String,
    /// The last error the link reported, or `no answer yet from the broker`.
    pub error: String,
}

impl RunError {
    fn config(message: String) -> Self {
        RunError {
            kind: "config",
            message,
            links: Vec::new(),
        }
    }
}

/// Reports `e` (stderr; and stdout as JSON with `--json`) and returns exit 2.
fn exit2(json: bool, e: RunError) -> ExitCode {
    let colon = if e.links.is_empty() { "" } else { ":" };
    eprintln!("streamprobe probe: {}{colon}", e.message);
    for l in &e.links {
        eprintln!("  {} ({}): {}", l.link, l.endpoint, l.error);
    }
    if json {
        let v = serde_json::json!({ "passed": false, "error": e });
        crate::logging::stdout(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    ExitCode::from(2)
}

/// Every link's state: index 0 = the injector, 1 + i = destination i.
fn track(links: &mut [LinkStatus], ev: &Event) {
    if let Some((link, s)) = LinkStatus::after(ev) {
        let i = match link {
            Link::Injector => 0,
            Link::Dest(i) => i + 1,
        };
        if let Some(l) = links.get_mut(i) {
            *l = s;
        }
    }
}

/// Folds `ev` into the run's measurement and the links' states, and
/// records it (with the verdict).
fn fold(
    stats: &mut RunStats,
    links: &mut [LinkStatus],
    tape: &mut Option<Tape>,
    ev: &Event,
) -> Option<Verdict> {
    track(links, ev);
    let v = stats.apply(ev);
    if let Some(t) = tape {
        t.event(ev, v);
    }
    v
}

/// Runs the probe and returns the exit code (0 pass, 1 fail, 2 config or
/// connection error). The report goes to stdout; errors and progress (only
/// when stderr is a terminal) to stderr.
pub async fn main(args: ProbeArgs, secrets: &Secrets) -> ExitCode {
    let json = args.json;
    let body = match args.measure.body_options() {
        Ok(b) => b,
        Err(e) => return exit2(json, RunError::config(e)),
    };
    let plan = match links::Plan::from_args(&args.endpoints, secrets) {
        Ok(p) => p,
        Err(e) => return exit2(json, RunError::config(format!("{e:#}"))),
    };
    let names: Vec<(String, Role)> = plan
        .dests
        .iter()
        .map(|d| (d.name.clone(), d.role))
        .collect();
    let primaries: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].1 == Role::Primary)
        .collect();
    let run = crate::envelope::new_run_id();
    let mut stats = RunStats::new(&run, names.len(), args.measure.loss_timeout());
    // The recording starts before the workers, so every event is in it.
    let mut tape = match &args.record {
        None => None,
        Some(path) => {
            let header = SessionHeader {
                run: run.clone(),
                source: plan.source.display(),
                destinations: names.clone(),
                loss_timeout: args.measure.loss_timeout(),
            };
            match Recorder::create(path, &header) {
                Ok(r) => Some(Tape {
                    path: path.clone(),
                    rec: Some(r),
                }),
                Err(e) => {
                    return exit2(
                        json,
                        RunError::config(format!("--record {}: {e}", path.display())),
                    );
                }
            }
        }
    };
    let mut w = links::spawn_with_broker_view(&plan, body, Some(&args.endpoints.rabbitmq_api));
    let mut broker: Option<Box<crate::broker::BrokerSnapshot>> = None;
    let mut links = vec![LinkStatus::Connecting; names.len() + 1];
    let progress = std::io::stderr().is_terminal();

    // 1. Every link up, or exit 2 naming the ones that are not.
    let mut status: Vec<LinkWait> = std::iter::once(Link::Injector)
        .chain((0..names.len()).map(Link::Dest))
        .map(|link| LinkWait {
            link,
            error: None,
            up: false,
            refused: false,
        })
        .collect();
    // A refusal no retry fixes (authentication, a queue that clashes with
    // the link) ends the wait: at most REFUSED_GRACE later, so the other
    // links refused for the same reason (one password for every AMQP
    // link) are listed too.
    let mut deadline = Instant::now() + Duration::from_secs_f64(args.connect_timeout);
    let all_up = |st: &[LinkWait]| st.iter().all(|s| s.up);
    let refused_and_settled =
        |st: &[LinkWait]| st.iter().any(|s| s.refused) && st.iter().all(|s| s.up || s.refused);
    while !all_up(&status) && !refused_and_settled(&status) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(ev)) = tokio::time::timeout(left, w.events.recv()).await else {
            break;
        };
        fold(&mut stats, &mut links, &mut tape, &ev);
        if let Event::Broker(b) = &ev {
            broker = Some(b.clone());
        }
        if matches!(ev, Event::Refused { .. }) {
            deadline = deadline.min(Instant::now() + REFUSED_GRACE);
        }
        let (link, error, up, refused) = match ev {
            Event::Up { link } | Event::Waiting { link, .. } => (link, None, true, false),
            Event::Down { link, error } => (link, Some(error), false, false),
            Event::Refused { link, error } => (link, Some(error), false, true),
            _ => continue,
        };
        for s in status.iter_mut().filter(|s| s.link == link) {
            s.up = up;
            // a refusal stays until the link comes up (a Down does not undo it)
            s.refused = refused || (s.refused && !up);
            if error.is_some() {
                s.error = error.clone();
            }
        }
    }
    let refused = status.iter().any(|s| s.refused);
    if refused || !all_up(&status) {
        let links = status
            .iter()
            .filter(|s| !s.up && (!refused || s.error.is_some()))
            .map(|s| {
                let (name, endpoint) = match s.link {
                    Link::Injector => ("injector".to_owned(), plan.source.display()),
                    Link::Dest(i) => (plan.dests[i].name.clone(), plan.dests[i].endpoint()),
                };
                LinkError {
                    link: name,
                    endpoint,
                    error: s
                        .error
                        .clone()
                        .unwrap_or_else(|| "no answer yet from the broker".into()),
                }
            })
            .collect();
        w.cancel.cancel();
        if let Some(t) = &mut tape {
            t.flush();
        }
        return exit2(
            json,
            RunError {
                kind: if refused { "refused" } else { "connect" },
                message: if refused {
                    "a broker refused a link, for a reason a retry does not fix".to_owned()
                } else {
                    format!("not every link came up within {}s", args.connect_timeout)
                },
                links,
            },
        );
    }

    // 2. Send, account, sweep; stop when every probe is resolved.
    let count = args.count;
    let req = SendRequest {
        stop: Default::default(),
        run: run.clone(),
        seqs: 0..count,
        rate: args.measure.rate(),
        inject: std::sync::Arc::new(args.measure.inject()),
    };
    if w.requests.send(req).await.is_err() {
        return exit2(
            json,
            RunError {
                kind: "internal",
                message: "the publisher stopped".into(),
                links: Vec::new(),
            },
        );
    }
    let mut touched = vec![false; count as usize];
    let mut resolved_sends = 0u64;
    let mut last_progress = Instant::now();
    let stall = args.measure.loss_timeout() + Duration::from_secs(10);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut done_at: Option<Instant> = None;
    loop {
        tokio::select! {
            ev = w.events.recv() => {
                let Some(ev) = ev else { break };
                fold(&mut stats, &mut links, &mut tape, &ev);
        if let Event::Broker(b) = &ev {
            broker = Some(b.clone());
        }
                match &ev {
                    Event::Sent { run: r, seq, .. } | Event::Failed { run: r, seq, .. } if *r == run => {
                        if let Event::Failed { error, .. } = &ev {
                            tracing::warn!(seq, %error, "send failed");
                        }
                        if let Some(x) = touched.get_mut(*seq as usize) {
                            if !*x { *x = true; resolved_sends += 1; }
                        }
                        last_progress = Instant::now();
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                stats.sweep(now);
                if progress {
                    let got: Vec<String> = names.iter().enumerate().map(|(i, (n, _))| format!("{n} {}", stats.tracker.dest(i).delivered)).collect();
                    eprint!("\r\x1b[2Ksent {}/{count}, {}", stats.sent, got.join(", "));
                }
                let all_sent = resolved_sends >= count;
                if all_sent && stats.tracker.settled_among(&primaries) {
                    let at = *done_at.get_or_insert(now);
                    if now.duration_since(at) >= GRACE { break; }
                } else if !all_sent && now.duration_since(last_progress) > stall {
                    tracing::warn!("the publisher made no progress for {stall:?}; stopping");
                    break;
                }
            }
        }
    }
    if progress {
        eprintln!();
    }
    if let Some(b) = final_snapshot(&mut w.events, Instant::now()).await {
        broker = Some(b);
    }
    w.cancel.cancel();
    if let Some(t) = &mut tape {
        t.flush();
    }
    let mut report = Report::new(&stats, &names, count, args.max_p99);
    if plan.unverified_tls() {
        report
            .warnings
            .push(crate::tls::SKIP_VERIFY_WARNING.to_owned());
    }
    if plan.unverified_kafka_tls() {
        report
            .warnings
            .push(crate::tls::KAFKA_SKIP_VERIFY_WARNING.to_owned());
    }
    report.source = Some(SourceReport {
        name: plan.source.name(),
        endpoint: plan.source.display(),
        broker: broker.as_ref().and_then(|b| b.source_view()),
        broker_off: broker.as_ref().and_then(|b| b.rabbitmq_off.clone()),
    });
    if let Some(b) = &broker {
        for (d, v) in report.destinations.iter_mut().zip(&b.dests) {
            d.broker = v.clone();
        }
    }
    if !report.passed {
        let dest_links: Vec<&LinkStatus> = links[1..].iter().collect();
        let found = crate::diagnose::diagnose(&crate::diagnose::Inputs {
            stats: &stats,
            names: &names,
            source: plan.source.target(),
            injector: &links[0],
            links: &dest_links,
            broker: broker.as_deref(),
            now: Instant::now(),
        });
        report.problems.extend(found.sentences(&names));
    }
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => crate::logging::stdout(&format!("{s}\n")),
            Err(e) => {
                eprintln!("streamprobe probe: cannot encode the report: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        crate::logging::stdout(&report.to_text());
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(w.tasks)).await;
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(dest: usize, seq: u64, at: Instant) -> Event {
        Event::Arrived(crate::event::Arrival {
            dest,
            at,
            wall: chrono::Utc::now(),
            probe: Some(("abc".into(), seq)),
            size: 60,
            preview: String::new(),
            detail: None,
            kafka: None,
        })
    }

    fn run(delivered: &[u64], dup: &[u64]) -> Report {
        let t0 = Instant::now();
        let mut s = RunStats::new("abc", 2, Duration::from_secs(10));
        for seq in 0..10 {
            s.apply(&Event::Sent {
                run: "abc".into(),
                seq,
                at: t0,
                intended: None,
            });
            s.apply(&Event::Confirmed {
                run: "abc".into(),
                seq,
                at: t0,
                settle: Duration::from_millis(1),
            });
        }
        for seq in 0..10 {
            s.apply(&arrival(0, seq, t0 + Duration::from_millis(5)));
        }
        for seq in delivered.iter().chain(dup) {
            s.apply(&arrival(1, *seq, t0 + Duration::from_millis(7)));
        }
        s.sweep(t0 + Duration::from_secs(11));
        let names = [
            ("kafka:FOO".to_owned(), Role::Primary),
            ("amqp:FOO".to_owned(), Role::Primary),
        ];
        Report::new(&s, &names, 10, Some(6.0))
    }

    #[test]
    fn json_schema() {
        let r = run(&(0..10).collect::<Vec<_>>(), &[]);
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "run_id",
            "requested",
            "sent",
            "confirmed",
            "failed",
            "destinations",
            "publish_settle_us",
            "sender_lag_us",
            "passed",
            "problems",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        let d = &v["destinations"][0];
        assert_eq!(d["throughput_per_s"], 2000.0);
        assert_eq!(d["role"], "primary");
        for k in [
            "name",
            "role",
            "received",
            "duplicates",
            "out_of_order",
            "lost",
            "late",
            "foreign",
            "latency_us",
            "last_arrival_ms",
            "throughput_per_s",
        ] {
            assert!(d.get(k).is_some(), "missing destinations[].{k}");
        }
        for k in ["p50", "p90", "p99", "p999", "max", "count"] {
            assert!(d["latency_us"][k].is_u64(), "missing latency_us.{k}");
        }
        assert_eq!(d["name"], "kafka:FOO");
        assert_eq!(d["latency_us"]["count"], 10);
        // amqp p99 is 7 ms > 6 ms limit
        assert!(!r.passed);
        assert_eq!(r.problems, ["amqp:FOO: p99 7.0ms exceeds --max-p99 6 ms"]);
    }

    #[test]
    fn loss_and_duplicates_fail() {
        let r = run(&[0, 1, 2, 3, 4, 5, 6, 7], &[1]);
        let a = &r.destinations[1];
        assert_eq!((a.received, a.lost, a.duplicates), (8, 2, 1));
        assert!(!r.passed);
        assert!(
            r.problems.iter().any(|p| p == "amqp:FOO: 2 lost"),
            "{:?}",
            r.problems
        );
        assert!(r.to_text().contains("FAIL:"));
    }
}
