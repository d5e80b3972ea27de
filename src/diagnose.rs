//! Diagnoses: when probes go missing, say WHERE they are and why, in one
//! sentence with the evidence, from the run's accounting ([`RunStats`]),
//! the links' states and (when on) the broker view. The UI shows each next
//! to the loss it explains; `probe` lists them in its report's `problems`.
//!
//! The rules, in the order they are tried (the first that holds for a
//! destination or for the source side is the one shown):
//! - source side, when no destination received a block of probes: the
//!   source routes to no queue; its queue has a backlog and no consumer; its
//!   consumer takes nothing while messages are ready (a stalled engine, e.g.
//!   link credit 0); else the generic "is anything consuming X?".
//! - per destination: its link is down (the error); a Kafka topic that does
//!   not exist, or that got no new records during the run; it stopped
//!   receiving at seq N while others go on (an output stuck behind one
//!   message); it misses probes others received (that output is failing).

use std::time::{Duration, Instant};

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
    Diagnoses {
        source: source_side(inp),
        dests: (0..n).map(|i| destination(inp, i)).collect(),
    }
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

fn source_side(inp: &Inputs) -> Option<Diagnosis> {
    let b = inp.stats.tracker.missed_everywhere()?;
    let seqs = if b.first == b.last {
        format!("seq {}", b.first)
    } else {
        format!("seq {}–{}", b.first, b.last)
    };
    let text = format!(
        "no destination received {seqs} ({}): is anything consuming {}? is the stream running?",
        plural(b.count, "probe"),
        inp.source
    );
    Some(Diagnosis::new(text.clone(), text))
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
    // Others primaries that receive what this one does not.
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
        return Some(match d.highest_seq() {
            Some(h) => Diagnosis::new(
                format!(
                    "stopped receiving after seq {h} {secs} ago while {oj} received up to seq {hj}: its output is stuck (behind one message?) or failing"
                ),
                format!("stuck after #{h} for {secs}; {oj} at #{hj}"),
            ),
            None => Diagnosis::new(
                format!(
                    "has received nothing for {secs} while {oj} received up to seq {hj}: its output is failing"
                ),
                format!("nothing for {secs}; {oj} at #{hj}"),
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
