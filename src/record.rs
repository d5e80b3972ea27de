//! Session recordings: every event of a run as JSON Lines (`--record FILE`,
//! the UI's `w`), and `streamprobe report FILE`, which folds a recording
//! back through [`crate::stats::RunStats`] and prints the summary `probe`
//! prints.
//!
//! One JSON object per line, each with a `type`: first the `session` header
//! (format version, start time, source, destinations, loss timeout), then
//! `run` (a new run starts), `sent`, `confirmed`, `failed`, `arrived` and
//! `link` lines. Every line after the header has `t_us`, microseconds since
//! the recorder's origin on the monotonic clock (negative for an event whose
//! instant is slightly before it), and `at`, the wall time `started + t_us`
//! (RFC 3339, UTC). The README shows one example line of each.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Arrival, Event, Link};
use crate::links::Role;
use crate::probe::Report;
use crate::stats::RunStats;
use crate::tracker::Verdict;

/// The recording format this streamprobe writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What the first line of a recording says about the session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionHeader {
    /// The run the session starts with (events before any
    /// [`Recorder::run_started`] belong to it).
    pub run: String,
    /// The source, as display text (no password), e.g.
    /// `amqp://localhost:5672 → EXTERNAL`.
    pub source: String,
    /// The destinations' names and roles, in index order.
    pub destinations: Vec<(String, Role)>,
    /// After how long a missing probe counts as lost.
    pub loss_timeout: Duration,
}

/// One destination in the header line.
#[derive(Debug, Serialize, Deserialize)]
struct DestLine<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    role: Role,
}

/// [`Verdict`] without its payload, as written in `arrived` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum VerdictName {
    Delivered,
    Duplicate,
    Late,
    Foreign,
}

/// A link's state in `link` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LinkState {
    Up,
    Down,
    Waiting,
}

/// Which link a `link` line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum LinkKind {
    Injector,
    Dest,
}

/// One line of a recording (written and read with the same type).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Session {
        version: u32,
        started: DateTime<Utc>,
        #[serde(borrow)]
        run: Cow<'a, str>,
        #[serde(borrow)]
        source: Cow<'a, str>,
        #[serde(borrow)]
        destinations: Vec<DestLine<'a>>,
        loss_timeout_us: u64,
    },
    Run {
        t_us: i64,
        at: DateTime<Utc>,
        #[serde(borrow)]
        run: Cow<'a, str>,
    },
    Sent {
        t_us: i64,
        at: DateTime<Utc>,
        #[serde(borrow)]
        run: Cow<'a, str>,
        seq: u64,
        /// With a rate: when the probe was due (latency counts from there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        intended_t_us: Option<i64>,
    },
    Confirmed {
        t_us: i64,
        at: DateTime<Utc>,
        #[serde(borrow)]
        run: Cow<'a, str>,
        seq: u64,
        settle_us: u64,
    },
    Failed {
        t_us: i64,
        at: DateTime<Utc>,
        #[serde(borrow)]
        run: Cow<'a, str>,
        seq: u64,
        #[serde(borrow)]
        error: Cow<'a, str>,
    },
    Arrived {
        t_us: i64,
        at: DateTime<Utc>,
        dest: usize,
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        run: Option<Cow<'a, str>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<VerdictName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        out_of_order: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_us: Option<u64>,
        size: u64,
        #[serde(borrow)]
        preview: Cow<'a, str>,
        /// Kafka destinations: the record's partition, offset and timestamp.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partition: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_type: Option<crate::event::TimestampType>,
    },
    Link {
        t_us: i64,
        at: DateTime<Utc>,
        link: LinkKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dest: Option<usize>,
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        name: Option<Cow<'a, str>>,
        state: LinkState,
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        error: Option<Cow<'a, str>>,
        #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
        reason: Option<Cow<'a, str>>,
    },
}

/// Writes a session as JSON Lines (see the module docs).
pub struct Recorder {
    out: BufWriter<File>,
    /// The monotonic origin of `t_us`.
    origin: Instant,
    /// Wall time at the origin (whole microseconds).
    started: DateTime<Utc>,
    /// Destination names, for `arrived` and `link` lines.
    names: Vec<String>,
}

/// Signed microseconds from `origin` to `at`.
fn micros_since(origin: Instant, at: Instant) -> i64 {
    match at.checked_duration_since(origin) {
        Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from(origin.duration_since(at).as_micros()).unwrap_or(i64::MAX),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    /// Creates (truncates) `path` and writes the header line; the recorder's time origin is now.
    pub fn create(path: &Path, header: &SessionHeader) -> std::io::Result<Recorder> {
        Recorder::create_at(path, header, Instant::now(), Utc::now())
    }

    /// [`Recorder::create`] with a given origin and its wall time.
    fn create_at(
        path: &Path,
        header: &SessionHeader,
        origin: Instant,
        started: DateTime<Utc>,
    ) -> std::io::Result<Recorder> {
        let mut r = Recorder {
            out: BufWriter::new(File::create(path)?),
            origin,
            started: started.trunc_subsecs(6),
            names: header.destinations.iter().map(|d| d.0.clone()).collect(),
        };
        let line = Line::Session {
            version: FORMAT_VERSION,
            started: r.started,
            run: Cow::Borrowed(&header.run),
            source: Cow::Borrowed(&header.source),
            destinations: header
                .destinations
                .iter()
                .map(|(name, role)| DestLine {
                    name: Cow::Borrowed(name),
                    role: *role,
                })
                .collect(),
            loss_timeout_us: micros(header.loss_timeout),
        };
        r.write(&line)?;
        Ok(r)
    }

    /// A new run starts (the UI's reset): later events belong to `run`.
    pub fn run_started(&mut self, run: &str) -> std::io::Result<()> {
        let (t_us, at) = self.stamp(Instant::now());
        self.write(&Line::Run {
            t_us,
            at,
            run: Cow::Borrowed(run),
        })
    }

    /// One event, with RunStats::apply's verdict for arrivals.
    pub fn event(&mut self, ev: &Event, verdict: Option<Verdict>) -> std::io::Result<()> {
        let line = match ev {
            Event::Sent {
                run,
                seq,
                at,
                intended,
            } => {
                let (t_us, at) = self.stamp(*at);
                Line::Sent {
                    t_us,
                    at,
                    run: Cow::Borrowed(run),
                    seq: *seq,
                    intended_t_us: intended.map(|i| micros_since(self.origin, i)),
                }
            }
            Event::Confirmed {
                run,
                seq,
                at,
                settle,
            } => {
                let (t_us, at) = self.stamp(*at);
                Line::Confirmed {
                    t_us,
                    at,
                    run: Cow::Borrowed(run),
                    seq: *seq,
                    settle_us: micros(*settle),
                }
            }
            Event::Failed { run, seq, error } => {
                let (t_us, at) = self.stamp(Instant::now());
                Line::Failed {
                    t_us,
                    at,
                    run: Cow::Borrowed(run),
                    seq: *seq,
                    error: Cow::Borrowed(error),
                }
            }
            Event::Arrived(a) => {
                let (t_us, at) = self.stamp(a.at);
                let (verdict, out_of_order, latency) = match verdict {
                    None => (None, None, None),
                    Some(Verdict::Delivered {
                        latency,
                        out_of_order,
                    }) => (
                        Some(VerdictName::Delivered),
                        Some(out_of_order),
                        Some(micros(latency)),
                    ),
                    Some(Verdict::Late { latency }) => {
                        (Some(VerdictName::Late), None, Some(micros(latency)))
                    }
                    Some(Verdict::Duplicate) => (Some(VerdictName::Duplicate), None, None),
                    Some(Verdict::Foreign) => (Some(VerdictName::Foreign), None, None),
                };
                Line::Arrived {
                    t_us,
                    at,
                    dest: a.dest,
                    name: Cow::Borrowed(self.names.get(a.dest).map_or("?", |n| n.as_str())),
                    run: a.probe.as_ref().map(|(r, _)| Cow::Borrowed(r.as_str())),
                    seq: a.probe.as_ref().map(|(_, s)| *s),
                    verdict,
                    out_of_order,
                    latency_us: latency,
                    size: a.size as u64,
                    preview: Cow::Borrowed(&a.preview),
                    partition: a.kafka.map(|k| k.partition),
                    offset: a.kafka.map(|k| k.offset),
                    timestamp_ms: a.kafka.and_then(|k| k.timestamp).map(|t| t.0),
                    timestamp_type: a.kafka.and_then(|k| k.timestamp).map(|t| t.1),
                }
            }
            Event::Up { link } => {
                let (t_us, at) = self.stamp(Instant::now());
                link_line(&self.names, t_us, at, *link, LinkState::Up, None, None)
            }
            Event::Down { link, error } | Event::Refused { link, error } => {
                let (t_us, at) = self.stamp(Instant::now());
                let error = Some(error.as_str());
                link_line(&self.names, t_us, at, *link, LinkState::Down, error, None)
            }
            Event::Waiting { link, reason } => {
                let (t_us, at) = self.stamp(Instant::now());
                let reason = Some(reason.as_str());
                link_line(
                    &self.names,
                    t_us,
                    at,
                    *link,
                    LinkState::Waiting,
                    None,
                    reason,
                )
            }
            // broker snapshots are not recorded (yet)
            Event::Broker(_) => return Ok(()),
        };
        write_line(&mut self.out, &line)
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// `t_us` and `at` of a monotonic instant.
    fn stamp(&self, at: Instant) -> (i64, DateTime<Utc>) {
        let t = micros_since(self.origin, at);
        (t, self.started + chrono::Duration::microseconds(t))
    }

    fn write(&mut self, line: &Line<'_>) -> std::io::Result<()> {
        write_line(&mut self.out, line)
    }
}

fn write_line(out: &mut BufWriter<File>, line: &Line<'_>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// A `link` line (`names`: the destinations', for `name`).
fn link_line<'a>(
    names: &'a [String],
    t_us: i64,
    at: DateTime<Utc>,
    link: Link,
    state: LinkState,
    error: Option<&'a str>,
    reason: Option<&'a str>,
) -> Line<'a> {
    let (kind, dest, name) = match link {
        Link::Injector => (LinkKind::Injector, None, None),
        Link::Dest(i) => (
            LinkKind::Dest,
            Some(i),
            Some(Cow::Borrowed(names.get(i).map_or("?", |n| n.as_str()))),
        ),
    };
    Line::Link {
        t_us,
        at,
        link: kind,
        dest,
        name,
        state,
        error: error.map(Cow::Borrowed),
        reason: reason.map(Cow::Borrowed),
    }
}

/// A recording folded back into the measurement of its last run.
pub struct Replayed {
    /// The header's destinations.
    pub destinations: Vec<(String, Role)>,
    /// The header's loss timeout.
    pub loss_timeout: Duration,
    /// Every run of the recording, in order.
    pub runs: Vec<String>,
    /// The last run's measurement, swept at the end of the recording plus
    /// the loss timeout, and the probes it tried to send (every seq with a
    /// `sent` or `failed` line); always `Some` for a readable recording
    /// (the header names the first run).
    pub last: Option<(RunStats, u64)>,
}

/// Why a recording cannot be read: `line` is 1-based (`None`: the file as
/// a whole).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayError {
    /// 1-based line of the recording, when the problem is on one line.
    pub line: Option<usize>,
    /// What is wrong there.
    pub message: String,
}

impl ReplayError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        ReplayError {
            line: Some(line),
            message: message.into(),
        }
    }
}

/// serde_json's message without its "at line 1 column N" (every line is
/// line 1 to it), with the column kept.
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let msg = text
        .rfind(" at line ")
        .map_or(text.as_str(), |i| &text[..i]);
    format!("{msg} (column {})", e.column())
}

/// The replay's clock: instants = `base` + `t_us`.
struct Clock {
    base: Instant,
}

/// How far before the origin a `t_us` may be (the base is this far ahead
/// of now, so `base + t_us` stays representable).
const MAX_BEFORE_ORIGIN: Duration = Duration::from_secs(86_400);

impl Clock {
    fn at(&self, t_us: i64, line: usize) -> Result<Instant, ReplayError> {
        let d = Duration::from_micros(t_us.unsigned_abs());
        if t_us >= 0 {
            self.base
                .checked_add(d)
                .ok_or_else(|| ReplayError::at(line, format!("t_us {t_us} is out of range")))
        } else if d <= MAX_BEFORE_ORIGIN {
            self.base
                .checked_sub(d)
                .ok_or_else(|| ReplayError::at(line, format!("t_us {t_us} is out of range")))
        } else {
            Err(ReplayError::at(
                line,
                format!("t_us {t_us} is more than a day before the recording started"),
            ))
        }
    }
}

/// The run being folded.
struct Current {
    stats: RunStats,
    attempted: HashSet<u64>,
}

/// Reads a recording and folds it (see [`Replayed`]). Errors name the line.
pub fn replay(input: impl BufRead) -> Result<Replayed, ReplayError> {
    let mut input = input;
    let clock = Clock {
        base: Instant::now() + MAX_BEFORE_ORIGIN,
    };
    let mut header: Option<(Vec<(String, Role)>, Duration)> = None;
    let mut runs = Vec::new();
    let mut cur: Option<Current> = None;
    let mut end_t: i64 = 0;
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        let read = input.read_until(b'\n', &mut buf).map_err(|e| ReplayError {
            line: Some(n + 1),
            message: format!("cannot read: {e}"),
        })?;
        if read == 0 {
            break;
        }
        n += 1;
        let text =
            std::str::from_utf8(&buf).map_err(|e| ReplayError::at(n, format!("not UTF-8: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line<'_> = match serde_json::from_str(text) {
            Ok(l) => l,
            Err(e) if header.is_none() => {
                return Err(ReplayError::at(
                    n,
                    format!(
                        "not a streamprobe recording: the first line must be its session header ({})",
                        json_error(&e)
                    ),
                ));
            }
            Err(e) => return Err(ReplayError::at(n, json_error(&e))),
        };
        let Some((dests, loss_timeout)) = &header else {
            let Line::Session {
                version,
                run,
                destinations,
                loss_timeout_us,
                ..
            } = line
            else {
                return Err(ReplayError::at(
                    n,
                    "not a streamprobe recording: the first line must be its session header (\"type\":\"session\")",
                ));
            };
            if version != FORMAT_VERSION {
                return Err(ReplayError::at(
                    n,
                    format!(
                        "recording format version {version} is not supported (this streamprobe reads version {FORMAT_VERSION})"
                    ),
                ));
            }
            let destinations: Vec<(String, Role)> = destinations
                .into_iter()
                .map(|d| (d.name.into_owned(), d.role))
                .collect();
            let loss_timeout = Duration::from_micros(loss_timeout_us);
            // The session starts with the header's run; `run` lines start
            // the next ones.
            cur = Some(Current {
                stats: RunStats::new(&run, destinations.len(), loss_timeout),
                attempted: HashSet::new(),
            });
            runs.push(run.into_owned());
            header = Some((destinations, loss_timeout));
            continue;
        };
        let ndest = dests.len();
        let check_dest = |dest: usize| {
            if dest < ndest {
                Ok(())
            } else {
                Err(ReplayError::at(
                    n,
                    format!("destination {dest} does not exist (the header names {ndest})"),
                ))
            }
        };
        let ev = match line {
            Line::Session { .. } => {
                return Err(ReplayError::at(n, "a second session header"));
            }
            Line::Run { t_us, run, .. } => {
                end_t = end_t.max(t_us);
                cur = Some(Current {
                    stats: RunStats::new(&run, ndest, *loss_timeout),
                    attempted: HashSet::new(),
                });
                runs.push(run.into_owned());
                continue;
            }
            Line::Sent {
                t_us,
                run,
                seq,
                intended_t_us,
                ..
            } => {
                end_t = end_t.max(t_us);
                if let Some(c) = &mut cur {
                    if c.stats.run() == run {
                        c.attempted.insert(seq);
                    }
                }
                Event::Sent {
                    run: run.into_owned(),
                    seq,
                    at: clock.at(t_us, n)?,
                    intended: intended_t_us.map(|t| clock.at(t, n)).transpose()?,
                }
            }
            Line::Confirmed {
                t_us,
                run,
                seq,
                settle_us,
                ..
            } => {
                end_t = end_t.max(t_us);
                Event::Confirmed {
                    run: run.into_owned(),
                    seq,
                    at: clock.at(t_us, n)?,
                    settle: Duration::from_micros(settle_us),
                }
            }
            Line::Failed {
                t_us,
                run,
                seq,
                error,
                ..
            } => {
                end_t = end_t.max(t_us);
                if let Some(c) = &mut cur {
                    if c.stats.run() == run {
                        c.attempted.insert(seq);
                    }
                }
                Event::Failed {
                    run: run.into_owned(),
                    seq,
                    error: error.into_owned(),
                }
            }
            Line::Arrived {
                t_us,
                at,
                dest,
                run,
                seq,
                verdict,
                latency_us,
                size,
                preview,
                partition,
                offset,
                timestamp_ms,
                timestamp_type,
                ..
            } => {
                end_t = end_t.max(t_us);
                check_dest(dest)?;
                let kafka = partition.map(|partition| crate::event::KafkaPos {
                    partition,
                    offset: offset.unwrap_or(-1),
                    timestamp: timestamp_ms.zip(timestamp_type),
                });
                let probe = match (run, seq) {
                    (Some(r), Some(s)) => Some((r.into_owned(), s)),
                    (None, None) => None,
                    _ => {
                        return Err(ReplayError::at(n, "a probe arrival needs both run and seq"));
                    }
                };
                let mut instant = clock.at(t_us, n)?;
                if let Some(c) = &mut cur {
                    let sent_at = probe
                        .as_ref()
                        .filter(|(r, _)| *r == c.stats.run())
                        .and_then(|(_, s)| c.stats.tracker.sent_at(*s));
                    if let (
                        Some(sent_at),
                        Some(l),
                        Some(VerdictName::Delivered | VerdictName::Late),
                    ) = (sent_at, latency_us, verdict)
                    {
                        // The arrival instant the live fold saw, to the
                        // microsecond it measured: t_us alone went through
                        // two truncations (send and arrival).
                        instant = sent_at + Duration::from_micros(l);
                    }
                    if verdict == Some(VerdictName::Late) {
                        // Sweeps are not recorded: the live fold declared
                        // this probe lost before it came.
                        c.stats.sweep(instant);
                    }
                }
                Event::Arrived(Arrival {
                    dest,
                    at: instant,
                    wall: at,
                    probe,
                    size: usize::try_from(size).unwrap_or(usize::MAX),
                    preview: preview.into_owned(),
                    detail: None,
                    kafka,
                })
            }
            Line::Link {
                t_us, link, dest, ..
            } => {
                end_t = end_t.max(t_us);
                match (link, dest) {
                    (LinkKind::Injector, None) => {}
                    (LinkKind::Dest, Some(d)) => check_dest(d)?,
                    (LinkKind::Injector, Some(_)) => {
                        return Err(ReplayError::at(n, "the injector's link line has a dest"));
                    }
                    (LinkKind::Dest, None) => {
                        return Err(ReplayError::at(n, "a destination's link line needs dest"));
                    }
                }
                continue;
            }
        };
        if let Some(c) = &mut cur {
            c.stats.apply(&ev);
        }
    }
    let Some((destinations, loss_timeout)) = header else {
        return Err(ReplayError {
            line: None,
            message: if n == 0 {
                "empty file: not a streamprobe recording (no session header)".into()
            } else {
                "no session header: not a streamprobe recording".into()
            },
        });
    };
    let last = match cur {
        Some(mut c) => {
            // A probe still missing when the recording ended is lost, as
            // when `probe` stops.
            c.stats.sweep(clock.at(end_t, n)? + loss_timeout);
            let requested = c.attempted.len() as u64;
            Some((c.stats, requested))
        }
        None => None,
    };
    Ok(Replayed {
        destinations,
        loss_timeout,
        runs,
        last,
    })
}

/// The report of a recording's last run, as `probe` builds it (without
/// `--max-p99`, which is not recorded, and with `requested` = the probes
/// the run tried to send).
/// A run that sent nothing does not pass (a recording of nothing proves
/// nothing).
pub fn report_of(r: &Replayed) -> Option<Report> {
    let (stats, requested) = r.last.as_ref()?;
    let mut report = Report::new(stats, &r.destinations, *requested, None);
    if *requested == 0 {
        report
            .problems
            .push(format!("run {}: no probe was sent", report.run_id));
        report.passed = false;
    }
    Some(report)
}

/// `streamprobe report FILE [--json]`: exit 0 when the recorded run passes,
/// 1 when not, 2 when the file cannot be read or parsed.
pub fn report_main(path: &Path, json: bool) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("streamprobe report: {msg}");
        ExitCode::from(2)
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let replayed = match replay(BufReader::new(file)) {
        Ok(r) => r,
        Err(ReplayError {
            line: Some(l),
            message,
        }) => return fail(format!("{}:{l}: {message}", path.display())),
        Err(ReplayError {
            line: None,
            message,
        }) => return fail(format!("{}: {message}", path.display())),
    };
    let Some(report) = report_of(&replayed) else {
        return fail(format!("{}: the recording has no run", path.display()));
    };
    if replayed.runs.len() > 1 {
        eprintln!(
            "streamprobe report: {} holds {} runs; this is the last one, {}",
            path.display(),
            replayed.runs.len(),
            report.run_id
        );
    }
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => crate::logging::stdout(&format!("{s}\n")),
            Err(e) => return fail(format!("cannot encode the report: {e}")),
        }
    } else {
        crate::logging::stdout(&report.to_text());
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    fn header() -> SessionHeader {
        SessionHeader {
            run: "r1".into(),
            source: "amqp://localhost:5672 → EXTERNAL".into(),
            destinations: vec![
                ("kafka:FOO".into(), Role::Primary),
                ("amqp:FOO".into(), Role::Primary),
            ],
            loss_timeout: Duration::from_secs(2),
        }
    }

    fn arrival(dest: usize, probe: Option<(&str, u64)>, at: Instant) -> Event {
        Event::Arrived(Arrival {
            dest,
            at,
            wall: Utc::now(),
            probe: probe.map(|(r, s)| (r.to_owned(), s)),
            size: 64,
            preview: "{\"streamprobe\":1,\"run\":\"r1\"} \\u{1b}".into(),
            detail: None,
            kafka: None,
        })
    }

    fn temp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "streamprobe-record-{}-{name}-{:08x}.jsonl",
            std::process::id(),
            fastrand::u32(..)
        ))
    }

    fn replay_file(path: &Path) -> Result<Replayed, ReplayError> {
        replay(BufReader::new(File::open(path).expect("open")))
    }

    /// A run with every kind of event, applied to a live fold and
    /// recorded; the live side sweeps as `probe` would (before the late
    /// arrival, and at the end + loss timeout).
    #[test]
    fn round_trip_gives_the_live_report() {
        let path = temp("round-trip");
        let origin = Instant::now();
        let h = header();
        let mut rec = Recorder::create_at(&path, &h, origin, Utc::now()).expect("create");
        let mut live = RunStats::new("r1", 2, h.loss_timeout);
        let mut events = vec![
            Event::Up {
                link: Link::Injector,
            },
            Event::Waiting {
                link: Link::Dest(0),
                reason: "topic FOO does not exist yet".into(),
            },
            Event::Down {
                link: Link::Dest(1),
                error: "connection refused".into(),
            },
            Event::Up {
                link: Link::Dest(1),
            },
            // a foreign message slightly before the origin: negative t_us
            arrival(0, Some(("old", 3)), origin - us(40)),
            arrival(1, None, origin - us(7)),
        ];
        for seq in 0..6 {
            let at = origin + us(1_000 + 250 * seq);
            events.push(Event::Sent {
                run: "r1".into(),
                seq,
                at,
                intended: (seq % 2 == 0).then(|| at - us(90)),
            });
            events.push(Event::Confirmed {
                run: "r1".into(),
                seq,
                at: at + us(1_234),
                settle: us(1_234),
            });
        }
        events.push(Event::Failed {
            run: "r1".into(),
            seq: 6,
            error: "not connected: connection refused".into(),
        });
        // kafka: 0..6 with 3 before 2 (out of order) and 1 twice
        for (i, seq) in [0u64, 1, 3, 2, 1, 4, 5].into_iter().enumerate() {
            let at = origin + us(20_000 + 517 * i as u64);
            events.push(arrival(0, Some(("r1", seq)), at));
        }
        // amqp: 0..4 in time; 5 never comes; 4 comes after the loss timeout
        for seq in 0..4 {
            events.push(arrival(1, Some(("r1", seq)), origin + us(30_000 + 3 * seq)));
        }
        let mut verdicts = Vec::new();
        for ev in &events {
            let v = live.apply(ev);
            verdicts.push(v);
            rec.event(ev, v).expect("event");
        }
        // live sweep past seq 4's and 5's deadline, then 4 arrives late
        let late_at = origin + Duration::from_secs(3);
        live.sweep(late_at - us(10));
        let late = arrival(1, Some(("r1", 4)), late_at);
        let v = live.apply(&late);
        assert!(matches!(v, Some(Verdict::Late { .. })), "{v:?}");
        rec.event(&late, v).expect("late");
        rec.flush().expect("flush");
        drop(rec);
        live.sweep(late_at + h.loss_timeout);

        let replayed = replay_file(&path).expect("replay");
        assert_eq!(replayed.destinations, h.destinations);
        assert_eq!(replayed.loss_timeout, h.loss_timeout);
        assert_eq!(replayed.runs, ["r1"]);
        let (stats, requested) = replayed.last.as_ref().expect("a run");
        assert_eq!(*requested, 7, "6 sent + 1 that failed unsent");
        let want = Report::new(&live, &h.destinations, 7, None);
        let got = report_of(&replayed).expect("report");
        assert_eq!(got, want);
        assert_eq!(got.to_text(), want.to_text());
        assert_eq!(stats.tracker.dest(0).duplicates, 1);
        assert_eq!(stats.tracker.dest(0).out_of_order, 1);
        assert_eq!(stats.tracker.dest(0).foreign, 1);
        assert_eq!(stats.tracker.dest(1).foreign, 1);
        assert_eq!((got.destinations[1].late, got.destinations[1].lost), (1, 1));
        assert_eq!(got.publish_settle_us.count, 6);
        assert!(!got.passed);

        // the lines themselves
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 1 + events.len() + 1);
        assert_eq!(lines[0]["type"], "session");
        assert_eq!(lines[0]["run"], "r1");
        assert_eq!(lines[0]["version"], 1);
        assert_eq!(lines[0]["loss_timeout_us"], 2_000_000);
        assert_eq!(lines[0]["destinations"][1]["role"], "primary");
        let neg = &lines[5];
        assert_eq!(
            (neg["type"].as_str(), neg["t_us"].as_i64()),
            (Some("arrived"), Some(-40))
        );
        assert_eq!(neg["verdict"], "foreign");
        assert_eq!(neg["name"], "kafka:FOO");
        let started: DateTime<Utc> = lines[0]["started"].as_str().unwrap().parse().unwrap();
        let at: DateTime<Utc> = neg["at"].as_str().unwrap().parse().unwrap();
        assert_eq!(at, started - chrono::Duration::microseconds(40));
        let sent0 = lines.iter().find(|l| l["type"] == "sent").unwrap();
        assert_eq!(
            (sent0["t_us"].as_i64(), sent0["intended_t_us"].as_i64()),
            (Some(1_000), Some(910))
        );
        let delivered = lines
            .iter()
            .find(|l| l["type"] == "arrived" && l["verdict"] == "delivered")
            .unwrap();
        assert_eq!(delivered["latency_us"], 20_000 - 910);
        assert_eq!(delivered["out_of_order"], false);
        assert_eq!(
            delivered["preview"],
            "{\"streamprobe\":1,\"run\":\"r1\"} \\u{1b}"
        );
        let down = lines.iter().find(|l| l["state"] == "down").unwrap();
        assert_eq!(
            (down["link"].as_str(), down["dest"].as_u64()),
            (Some("dest"), Some(1))
        );
        assert_eq!(down["error"], "connection refused");
        let failed = lines.iter().find(|l| l["type"] == "failed").unwrap();
        assert_eq!(failed["error"], "not connected: connection refused");
        let _ = std::fs::remove_file(&path);
    }

    /// Instants that are not whole microseconds after the origin: the
    /// replayed latencies are still the live fold's, to the microsecond.
    #[test]
    fn latencies_survive_sub_microsecond_instants() {
        let path = temp("subus");
        let origin = Instant::now();
        let h = header();
        let mut rec = Recorder::create_at(&path, &h, origin, Utc::now()).expect("create");
        let mut live = RunStats::new("r1", 2, h.loss_timeout);
        for seq in 0..500u64 {
            let at = origin + Duration::from_nanos(1_000_999 + 7_777 * seq);
            let ev = Event::Sent {
                run: "r1".into(),
                seq,
                at,
                intended: None,
            };
            rec.event(&ev, live.apply(&ev)).expect("sent");
            for dest in 0..2 {
                let ev = arrival(
                    dest,
                    Some(("r1", seq)),
                    at + Duration::from_nanos(2_047_999 + 333 * seq + dest as u64),
                );
                rec.event(&ev, live.apply(&ev)).expect("arrived");
            }
        }
        rec.flush().expect("flush");
        let got = report_of(&replay_file(&path).expect("replay")).expect("report");
        live.sweep(origin + Duration::from_secs(60));
        let want = Report::new(&live, &h.destinations, 500, None);
        for i in 0..2 {
            assert_eq!(
                got.destinations[i].latency_us,
                want.destinations[i].latency_us
            );
            assert_eq!(got.destinations[i].received, 500);
        }
        let _ = std::fs::remove_file(&path);
    }

    fn replay_text(text: &str) -> Result<Replayed, ReplayError> {
        replay(text.as_bytes())
    }

    const HEAD: &str = r#"{"type":"session","version":1,"started":"2026-01-02T03:04:05.000006Z","run":"r","source":"amqp://localhost:5672 → EXTERNAL","destinations":[{"name":"kafka:FOO","role":"primary"}],"loss_timeout_us":1000000}"#;

    #[test]
    fn malformed_lines_are_named_by_number() {
        let err = |text: &str| replay_text(text).err().expect("an error");
        let e = err(&format!(
            "{HEAD}\n{{\"type\":\"run\",\"t_us\":1,\"at\":\"2026-01-02T03:04:05.000007Z\",\"run\":\"r\"}}\n{{\"type\":\"sent\",\"t_us\":5\n"
        ));
        assert_eq!(e.line, Some(3), "{e:?}");
        assert!(e.message.contains("EOF"), "{e:?}");
        let e = err(&format!("{HEAD}\n\n{{\"type\":\"bogus\",\"t_us\":1}}\n"));
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("unknown variant `bogus`"), "{e:?}");
        let e = err(&format!(
            "{HEAD}\n{{\"type\":\"sent\",\"t_us\":1,\"at\":\"2026-01-02T03:04:05Z\",\"run\":\"r\"}}\n"
        ));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("missing field `seq`"), "{e:?}");
        let e = err(&format!(
            "{HEAD}\n{{\"type\":\"arrived\",\"t_us\":1,\"at\":\"2026-01-02T03:04:05Z\",\"dest\":3,\"name\":\"x\",\"size\":1,\"preview\":\"\"}}\n"
        ));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("destination 3 does not exist"), "{e:?}");
        let e = err(&format!("{HEAD}\n{HEAD}\n"));
        assert_eq!(
            (e.line, e.message.as_str()),
            (Some(2), "a second session header")
        );
        let e = err(&format!("{HEAD}\n\u{0}\u{ff}\n"));
        assert_eq!(e.line, Some(2));
        let mut bad = HEAD.as_bytes().to_vec();
        bad.extend_from_slice(b"\n\xff\xfe\n");
        let e = replay(bad.as_slice()).err().expect("not UTF-8");
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("not UTF-8"), "{e:?}");
        // no header
        let e = err("");
        assert_eq!(e.line, None);
        assert!(e.message.contains("empty file"), "{e:?}");
        let e = err("\n\n");
        assert_eq!(e.line, None);
        assert!(e.message.contains("no session header"), "{e:?}");
        let e =
            err("{\"type\":\"run\",\"t_us\":1,\"at\":\"2026-01-02T03:04:05Z\",\"run\":\"r\"}\n");
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("session header"), "{e:?}");
        let e = err("hello\n");
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("not a streamprobe recording"), "{e:?}");
        let e = err(&HEAD.replace("\"version\":1", "\"version\":9"));
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("version 9 is not supported"), "{e:?}");
    }

    #[test]
    fn negative_t_us_replays_before_the_origin() {
        let text = format!(
            "{HEAD}\n\
             {{\"type\":\"run\",\"t_us\":-20,\"at\":\"2026-01-02T03:04:04.999986Z\",\"run\":\"r\"}}\n\
             {{\"type\":\"sent\",\"t_us\":-15,\"at\":\"2026-01-02T03:04:04.999991Z\",\"run\":\"r\",\"seq\":0}}\n\
             {{\"type\":\"arrived\",\"t_us\":485,\"at\":\"2026-01-02T03:04:05.000491Z\",\"dest\":0,\"name\":\"kafka:FOO\",\"run\":\"r\",\"seq\":0,\"verdict\":\"delivered\",\"out_of_order\":false,\"latency_us\":500,\"size\":60,\"preview\":\"{{}}\"}}\n"
        );
        let r = replay_text(&text).expect("replay");
        let rep = report_of(&r).expect("report");
        assert_eq!(rep.run_id, "r");
        assert_eq!((rep.requested, rep.sent), (1, 1));
        assert_eq!(rep.destinations[0].received, 1);
        assert_eq!(rep.destinations[0].latency_us.max, 500);
        // without latency_us the instants alone give the same figure
        let r = replay_text(&text.replace(",\"latency_us\":500", "")).expect("replay");
        assert_eq!(
            report_of(&r).expect("report").destinations[0]
                .latency_us
                .max,
            500
        );
        // a confirmation is still missing: the run fails, as probe's would
        assert!(!rep.passed);
        let far = format!(
            "{HEAD}\n{{\"type\":\"run\",\"t_us\":-90000000000,\"at\":\"2026-01-01T02:04:05Z\",\"run\":\"r\"}}\n{{\"type\":\"sent\",\"t_us\":-90000000000,\"at\":\"2026-01-01T02:04:05Z\",\"run\":\"r\",\"seq\":0}}\n"
        );
        let e = replay_text(&far).err().expect("too early");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn the_last_run_is_reported_and_a_missing_probe_is_lost() {
        let text = format!(
            "{HEAD}\n\
             {{\"type\":\"run\",\"t_us\":0,\"at\":\"2026-01-02T03:04:05.000006Z\",\"run\":\"a\"}}\n\
             {{\"type\":\"sent\",\"t_us\":1,\"at\":\"2026-01-02T03:04:05.000007Z\",\"run\":\"a\",\"seq\":0}}\n\
             {{\"type\":\"run\",\"t_us\":10,\"at\":\"2026-01-02T03:04:05.000016Z\",\"run\":\"b\"}}\n\
             {{\"type\":\"arrived\",\"t_us\":11,\"at\":\"2026-01-02T03:04:05.000017Z\",\"dest\":0,\"name\":\"kafka:FOO\",\"run\":\"a\",\"seq\":0,\"verdict\":\"foreign\",\"size\":60,\"preview\":\"\"}}\n\
             {{\"type\":\"sent\",\"t_us\":20,\"at\":\"2026-01-02T03:04:05.000026Z\",\"run\":\"b\",\"seq\":0}}\n\
             {{\"type\":\"confirmed\",\"t_us\":30,\"at\":\"2026-01-02T03:04:05.000036Z\",\"run\":\"b\",\"seq\":0,\"settle_us\":10}}\n\
             {{\"type\":\"link\",\"t_us\":40,\"at\":\"2026-01-02T03:04:05.000046Z\",\"link\":\"dest\",\"dest\":0,\"name\":\"kafka:FOO\",\"state\":\"down\",\"error\":\"gone\"}}\n"
        );
        let r = replay_text(&text).expect("replay");
        assert_eq!(r.runs, ["r", "a", "b"]);
        let rep = report_of(&r).expect("report");
        assert_eq!(rep.run_id, "b");
        assert_eq!((rep.requested, rep.sent, rep.confirmed), (1, 1, 1));
        let d = &rep.destinations[0];
        assert_eq!((d.received, d.lost, d.foreign), (0, 1, 1));
        assert_eq!(
            rep.problems,
            ["kafka:FOO: 0 of 1 probes received", "kafka:FOO: 1 lost"]
        );
        // header only: the header's run, which sent nothing, does not pass
        let rep = report_of(&replay_text(HEAD).expect("replay")).expect("report");
        assert_eq!((rep.run_id.as_str(), rep.requested), ("r", 0));
        assert!(!rep.passed);
        assert_eq!(rep.problems, ["run r: no probe was sent"]);
    }
}
