//! Diagnoses: when probes go missing, say WHERE they are and why, in one
//! sentence with the evidence, from the run's accounting ([`RunStats`]),
//! the links' states and (when on) the broker view. The UI shows each next
//! to the loss it explains; `probe` lists them in its report's `problems`.
//!
//! The rules, in the order they are tried (the first that holds for a
//! destination or for the source side is the one shown):
//! - source side: (as soon as a probe was sent) the source routes to no
//!   queue; its queue has a backlog and no consumer; its consumer takes
//!   nothing while messages are ready (a stopped or hung engine, or one
//!   waiting on an output); then, when no destination received a block of
//!   probes: the stream still confirms messages, only slower than they were
//!   sent (RabbitMQ's ack rate); the stream took them from the source (its
//!   queue is empty and read) yet no output got them; else the generic "is
//!   anything consuming X?". A source-side finding silences the
//!   destinations' own (they are its consequence), except a link that is
//!   down.
//! - per destination: its link is down (the error); its AMQP queue has
//!   other consumers too (they take the probes this one misses); a Kafka
//!   topic that does not exist (the consumer waits for it, or the broker
//!   view says so); it stopped receiving at seq N while others go on (an
//!   output stuck behind one message), with what its Kafka topic says
//!   meanwhile (no new record: nothing is produced there; still growing:
//!   records that are not this run's probes); it misses probes others
//!   received (that output is failing).

use std::time::{Duration, Instant};

use crate::broker::{BrokerSnapshot, DestBrokerView, QueueView, Route};
use crate::event::LinkStatus;
use crate::latency::fmt_secs;
use crate::links::Role;
use crate::stats::RunStats;

/// A destination that has received nothing for this long while another
/// goes on counts as stopped.
pub const STOPPED_AFTER: Duration = Duration::from_secs(2);

/// What the rules read.
pub struct Inputs<'a> {
    /// The run's measurement.
    pub stats: &'a RunStats,
    /// Every destination's name (`kafka:FOO`) and role; only primaries are
    /// expected to receive every probe.
    pub names: &'a [(String, Role)],
    /// The source as a person names it (`EXTERNAL`, `kafka:AMQP_DLQ`).
    pub source: &'a str,
    /// The injector's link state.
    pub injector: &'a LinkStatus,
    /// Every destination's link state (index = destination).
    pub links: &'a [&'a LinkStatus],
    /// The newest broker view, when it is on.
    pub broker: Option<&'a BrokerSnapshot>,
    /// Now, on the monotonic clock of the events.
    pub now: Instant,
}

/// One diagnosis: the sentence with its evidence, and a short form that
/// fits a destination pane's line at 80 columns (≤ 38 characters for
/// names of a few letters).
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    pub text: String,
    pub short: String,
}

impl Diagnosis {
    fn new(text: String, short: String) -> Self {
        Diagnosis { text, short }
    }
}

/// The diagnoses of a moment: one optional sentence for the source side
/// and one per destination.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Diagnoses {
    /// Why probes reach no destination (shown in the injector pane).
    pub source: Option<Diagnosis>,
    /// Why destination `i` misses probes (shown in its pane).
    pub dests: Vec<Option<Diagnosis>>,
}

impl Diagnoses {
    /// Every sentence, source first, each destination's prefixed with its
    /// name (`kafka:FOO: ...`), for a report's `problems`.
    pub fn sentences(&self, names: &[(String, Role)]) -> Vec<String> {
        let mut out: Vec<String> = self.source.iter().map(|d| d.text.clone()).collect();
        for (i, d) in self.dests.iter().enumerate() {
            if let (Some(d), Some((n, _))) = (d, names.get(i)) {
                out.push(format!("{n}: {}", d.text));
            }
        }
        out
    }
}

/// Applies the rules (see the module docs).
pub fn diagnose(inp: &Inputs) -> Diagnoses {
    let n = inp.names.len();
    let source = source_side(inp);
    // When the source side explains the loss, a destination's own finding
    // is a consequence (a topic nobody wrote to): only a link that is down
    // is still said per destination.
    let dests = (0..n)
        .map(|i| {
            destination(inp, i).filter(|_| {
                source.is_none() || matches!(inp.links.get(i), Some(LinkStatus::Down(_)))
            })
        })
        .collect();
    Diagnoses { source, dests }
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// A source queue that has held ready messages with a consumer and
/// delivered none for this long counts as stalled (above RabbitMQ's 1 s
/// statistics interval, which scripts/stack.sh sets).
pub const STALLED_AFTER: Duration = Duration::from_secs(3);

/// How long the source's ack counter may stand still while the stream
/// still counts as confirming (slow, not stopped), before the statistics
/// steps are known: above RabbitMQ's default 5 s steps. Once known, 2.5
/// steps (at least 2.5 s).
pub const ACKS_STILL_AFTER: Duration = Duration::from_secs(6);

/// What the broker view says about the source, when it says something is
/// wrong: certain facts, shown as soon as a probe was sent.
fn source_broker(inp: &Inputs) -> Option<Diagnosis> {
    let st = inp.stats;
    let view = inp.broker?.source.as_ref()?;
    let src = inp.source;
    if let Route::NoQueue { why, .. } = &view.route {
        return Some(Diagnosis::new(
            format!(
                "{src} routes to no queue: RabbitMQ accepted {} and dropped {} ({why}); bind a queue to it or fix the address",
                plural(st.confirmed, "probe"),
                if st.confirmed == 1 { "it" } else { "them" }
            ),
            format!("{src} routes to no queue"),
        ));
    }
    let busy = |q: &QueueView| q.messages_ready.unwrap_or(0) > 0;
    for q in view.queues.iter().filter(|q| busy(q)) {
        let ready = q.messages_ready.unwrap_or(0);
        let name = crate::sanitize::preview(q.name.as_bytes(), 60);
        match q.consumers {
            Some(0) => {
                return Some(Diagnosis::new(
                    format!(
                        "queue {name} holds {} and has no consumer: the stream is not running (or reads another address)",
                        plural(ready, "ready message")
                    ),
                    format!("{name}: {ready} ready, no consumer"),
                ));
            }
            Some(_) if q.stalled(STALLED_AFTER) && q.messages_unacknowledged > Some(0) => {
                let secs = q.undelivered_for_s.unwrap_or(0.0) as u64;
                let unacked = q.messages_unacknowledged.unwrap_or(0);
                return Some(Diagnosis::new(
                    format!(
                        "queue {name} holds {}; the stream holds {unacked} unacknowledged and took no more for {secs} s: {}{}",
                        plural(ready, "ready message"),
                        match down_dest(inp) {
                            Some(d) => format!("{d} is down, so the stream's output there cannot confirm, and a fan-out (Bento's fan_out) waits for every output"),
                            None => "the stream engine is stopped or hung, or waits on an output that does not confirm (one retrying a message for ever?)".to_owned(),
                        },
                        last_seqs(inp)
                    ),
                    format!("{name}: stream hung or waits on an output"),
                ));
            }
            Some(c) if q.stalled(STALLED_AFTER) => {
                let secs = q.undelivered_for_s.unwrap_or(0.0) as u64;
                return Some(Diagnosis::new(
                    format!(
                        "queue {name} holds {} and its {} took none for {secs} s (link credit 0?): the stream engine has stalled",
                        plural(ready, "ready message"),
                        plural(c, "consumer")
                    ),
                    format!("{name}: {ready} ready, consumer stalled"),
                ));
            }
            _ => {}
        }
    }
    None
}

/// The first destination whose link is down (streamprobe cannot reach its
/// broker: the stream's output there fails too).
fn down_dest<'a>(inp: &Inputs<'a>) -> Option<&'a str> {
    inp.links
        .iter()
        .zip(inp.names)
        .find_map(|(l, (n, _))| matches!(l, LinkStatus::Down(_)).then_some(n.as_str()))
}

fn source_side(inp: &Inputs) -> Option<Diagnosis> {
    if inp.stats.sent > 0 {
        if let Some(d) = source_broker(inp) {
            return Some(d);
        }
    }
    let b = inp.stats.tracker.missed_everywhere()?;
    let seqs = if b.first == b.last {
        format!("seq {}", b.first)
    } else {
        format!("seq {}–{}", b.first, b.last)
    };
    let probes = plural(b.count, "probe");
    // the stream took them (its queue is empty and read) but no output got
    // them: still held unacknowledged (an output does not confirm), or gone
    let (drained, unacked) = inp
        .broker
        .and_then(|b| b.source.as_ref())
        .filter(|v| !v.queues.is_empty())
        .map_or((false, 0), |v| {
            let all = v
                .queues
                .iter()
                .all(|q| q.messages_ready == Some(0) && q.consumers.unwrap_or(0) > 0);
            let unacked = v
                .queues
                .iter()
                .filter_map(|q| q.messages_unacknowledged)
                .sum();
            (all, unacked)
        });
    // a destination whose broker streamprobe cannot reach either: the
    // stream's output there fails too, and a fan-out confirms nothing
    // until every output did (Bento's fan_out)
    let text = if let Some(name) = down_dest(inp) {
        format!(
            "no destination received {seqs} ({probes}) in time: {name} is down, so the stream's output to it cannot deliver, and a fan-out (Bento's fan_out) confirms a message only when every output did; {} holds {unacked} unacknowledged{}",
            inp.source,
            last_seqs(inp)
        )
    } else if let Some(slow) = slow_drain(inp) {
        format!("no destination received {seqs} ({probes}) in time: {slow}")
    } else if drained && unacked > 0 {
        format!(
            "no destination received {seqs} ({probes}): the stream took them from {} and holds {unacked} unacknowledged without confirming: the stream engine is stopped or hung, or waits on an output that does not confirm (one retrying a message for ever?){}",
            inp.source,
            last_seqs(inp)
        )
    } else if drained {
        format!(
            "no destination received {seqs} ({probes}), yet the stream took them from {} (0 ready, consumer attached): they were lost inside the stream or its outputs; see its log",
            inp.source
        )
    } else {
        format!(
            "no destination received {seqs} ({probes}): is anything consuming {}? is the stream running?",
            inp.source
        )
    };
    Some(Diagnosis::new(text.clone(), text))
}

/// When the source queue is still being read and confirmed (RabbitMQ's
/// ack rate above zero) while it holds messages: the stream is working,
/// only slower than the probes were sent, so they wait in the queue or
/// unacknowledged in the stream past the loss timeout. The sentence names
/// the ack rate, the send rate and what still waits.
fn slow_drain(inp: &Inputs) -> Option<String> {
    let v = inp.broker?.source.as_ref()?;
    let ack: f64 = v
        .queues
        .iter()
        .filter_map(|q| q.acked_per_s.or(q.rates.ack))
        .sum();
    let ready: u64 = v.queues.iter().filter_map(|q| q.messages_ready).sum();
    let unacked: u64 = v
        .queues
        .iter()
        .filter_map(|q| q.messages_unacknowledged)
        .sum();
    // the counter must still move: an average over the last seconds also
    // holds the acks from before a stall
    let moving = v.queues.iter().any(|q| {
        // still for longer than 2.5 statistics steps (when the steps are
        // known), else than the default steps allow: stopped, not slow
        let limit = q
            .ack_step_s
            .map_or(ACKS_STILL_AFTER.as_secs_f64(), |step| (2.5 * step).max(2.5));
        q.acks_still_for_s.is_some_and(|s| s < limit)
    });
    if ack < 0.05 || ready + unacked == 0 || !moving {
        return None;
    }
    let sent = inp
        .stats
        .send_rate()
        .map_or("sent at once".to_owned(), |r| {
            format!("sent at {r:.0} msg/s")
        });
    Some(format!(
        "the stream is slower than the send rate: it confirms {ack:.1} msg/s from {} (RabbitMQ's ack counter), the probes were {sent}, and {ready} ready + {unacked} unacknowledged still wait; send slower (--rate), wait longer (--loss-timeout) or speed the stream up (max_in_flight, credit)",
        inp.source
    ))
}

/// `"; last probe received: kafka:FOO #41, amqp:FOO #42"` (primaries), or
/// `"; no probe received anywhere"`.
fn last_seqs(inp: &Inputs) -> String {
    let t = &inp.stats.tracker;
    let got: Vec<String> = inp
        .names
        .iter()
        .enumerate()
        .filter(|(_, (_, r))| *r == Role::Primary)
        .filter_map(|(i, (n, _))| t.dest(i).highest_seq().map(|h| format!("{n} #{h}")))
        .collect();
    if got.is_empty() {
        "; no probe received anywhere".into()
    } else {
        format!("; last probe received: {}", got.join(", "))
    }
}

/// `" and EXTERNAL still drains (40 msg/s delivered)"` when the broker view
/// shows the source queue delivering, `" and EXTERNAL is kept empty (0
/// ready)"` when it is read and holds nothing ready, else empty.
fn drains(inp: &Inputs) -> String {
    let Some(v) = inp.broker.and_then(|b| b.source.as_ref()) else {
        return String::new();
    };
    let rate: f64 = v.queues.iter().filter_map(|q| q.rates.deliver_get).sum();
    let empty = !v.queues.is_empty()
        && v.queues
            .iter()
            .all(|q| q.messages_ready == Some(0) && q.consumers.unwrap_or(0) > 0);
    if rate > 0.0 {
        format!(
            " and {} still drains ({rate:.0} msg/s delivered)",
            inp.source
        )
    } else if empty {
        format!(" and {} is kept empty (0 ready)", inp.source)
    } else {
        String::new()
    }
}

/// While destination `i` has been silent for `silent`: what its Kafka
/// topic says. `Some((text, true))` when the end offsets have not moved
/// for (about) that long: nothing is produced there; `Some((text, false))`
/// when the topic still grows: records arrive, but no probe of this run.
/// The tolerance is one broker-view round (a snapshot is up to ~2 s old).
fn topic_note(inp: &Inputs, i: usize, silent: Duration) -> Option<(String, bool)> {
    let Some(DestBrokerView::Kafka(t)) = inp.broker?.dests.get(i)?.as_ref() else {
        return None;
    };
    let topic = crate::sanitize::preview(t.topic.as_bytes(), 60);
    let still = t.unchanged_for_s?;
    let end = t.end_offset_total();
    if still >= 1.0 && still + 2.0 >= silent.as_secs_f64() {
        Some((
            format!(
                "; topic {topic} has had no new record for {} (end offset {end}): its output produces nothing there (failing with its errors dropped, or stuck behind one message)",
                fmt_secs(Duration::from_secs_f64(still))
            ),
            true,
        ))
    } else if t.growth_per_s.is_some_and(|g| g > 0.0) {
        Some((
            format!(
                "; topic {topic} still grows (end offset {end}), so records reach it but none is a probe of this run: does the stream rewrite the bodies, or is this consumer behind?"
            ),
            false,
        ))
    } else {
        None
    }
}

fn destination(inp: &Inputs, i: usize) -> Option<Diagnosis> {
    let st = inp.stats;
    let (_, role) = inp.names.get(i)?;
    if *role != Role::Primary {
        return None;
    }
    let t = &st.tracker;
    let d = t.dest(i);
    let missing = d.lost + t.pending(i);
    if missing == 0 || st.sent == 0 {
        return None;
    }
    match inp.links.get(i) {
        Some(LinkStatus::Down(e)) if d.lost > 0 => {
            return Some(Diagnosis::new(
                format!("link down, {} lost: {e}", d.lost),
                format!("error: {e}"),
            ));
        }
        Some(LinkStatus::Waiting(why)) if d.lost > 0 => {
            return Some(Diagnosis::new(
                format!(
                    "{why}: nothing was produced to it ({} lost); is the stream's output writing there?",
                    d.lost
                ),
                format!("{why}: nothing produced"),
            ));
        }
        _ => {}
    }
    if let Some(DestBrokerView::Amqp(v)) = inp
        .broker
        .and_then(|b| b.dests.get(i))
        .and_then(Option::as_ref)
    {
        if let Some(q) = v.queues.iter().find(|q| q.consumers.is_some_and(|c| c > 1)) {
            let name = crate::sanitize::preview(q.name.as_bytes(), 60);
            let c = q.consumers.unwrap_or(0);
            return Some(Diagnosis::new(
                format!(
                    "{c} consumers share queue {name}: another consumer took the probes this one misses (RabbitMQ gives each message to one consumer); stop the other consumer (another streamprobe?) or read a queue of your own"
                ),
                format!("{c} consumers share {name}"),
            ));
        }
    }
    if let Some(DestBrokerView::Kafka(t)) = inp
        .broker
        .and_then(|b| b.dests.get(i))
        .and_then(Option::as_ref)
    {
        let topic = crate::sanitize::preview(t.topic.as_bytes(), 60);
        if t.exists == Some(false) && d.lost > 0 {
            return Some(Diagnosis::new(
                format!(
                    "topic {topic} does not exist: nothing was produced to it ({} lost); is the stream's kafka output writing there?",
                    d.lost
                ),
                format!("topic {topic} does not exist"),
            ));
        }
    }
    // Other primaries that receive what this one does not.
    let others: Vec<usize> = (0..inp.names.len())
        .filter(|&j| j != i && inp.names[j].1 == Role::Primary)
        .collect();
    let since = st
        .last_probe_at
        .get(i)
        .copied()
        .flatten()
        .or(st.first_send)?;
    let silent = inp.now.saturating_duration_since(since);
    let ahead = others.iter().copied().find(|&j| {
        st.last_probe_at[j].is_some_and(|at| at > since + Duration::from_secs(1))
            && t.dest(j).highest_seq() > d.highest_seq()
    });
    if let (Some(j), true) = (ahead, silent >= STOPPED_AFTER) {
        let (oj, hj) = (&inp.names[j].0, t.dest(j).highest_seq().unwrap_or(0));
        let secs = fmt_secs(silent);
        let note = topic_note(inp, i, silent);
        let (why, idle) = match &note {
            Some((text, idle)) => (text.as_str(), *idle),
            None => (
                ": its output is stuck (behind one message?) or failing",
                false,
            ),
        };
        let tail = if idle { "; topic idle" } else { "" };
        return Some(match d.highest_seq() {
            Some(h) => Diagnosis::new(
                format!(
                    "stopped receiving {secs} ago, after seq {h}, while {oj} received up to seq {hj}{}{why}",
                    drains(inp)
                ),
                if idle {
                    format!("stuck after #{h} for {secs}{tail}")
                } else {
                    format!("stuck after #{h} for {secs}; {oj} at #{hj}")
                },
            ),
            None => Diagnosis::new(
                format!(
                    "has received nothing for {secs} while {oj} received up to seq {hj}{}{why}",
                    drains(inp)
                ),
                if idle {
                    format!("nothing for {secs}{tail}")
                } else {
                    format!("nothing for {secs}; {oj} at #{hj}")
                },
            ),
        });
    }
    if d.lost > 0 {
        let got_elsewhere = others.iter().any(|&j| t.dest(j).delivered > d.delivered);
        if got_elsewhere {
            return Some(Diagnosis::new(
                format!(
                    "missed {} that other destinations received: this output is failing (see the stream's log)",
                    plural(d.lost, "probe")
                ),
                format!("missed {} others got", d.lost),
            ));
        }
    }
    None
}
