//! Trying to make the numbers lie, on the REAL stack: the pipeline is killed
//! and restarted mid-run (at-least-once redelivery makes duplicates), and
//! Kafka is stopped mid-run (probes arrive after the loss timeout: late).
//! Each time the probe's report must match kcat's view of the topic.
//! One test function: the phases must not overlap (one stops Kafka).

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

struct Run {
    source: String,
    topic: String,
    target: String,
    mirror: String,
}

impl Run {
    fn new(tag: &str) -> Run {
        let r = Run {
            source: unique(&format!("{tag}_src")),
            topic: unique(&format!("{tag}_t")),
            target: unique(&format!("{tag}_q")),
            mirror: unique(&format!("{tag}_m")),
        };
        for q in [&r.target, &r.mirror] {
            let _ = proton_drain(q, 0, Duration::from_millis(100), Duration::from_secs(5));
        }
        r
    }

    fn pipeline(&self) -> Pipeline {
        mirror_pipeline(&self.source, &self.topic, &self.target, &self.mirror)
    }

    /// `probe --json` of `n` probes at 1,000 msg/s, plus `args`.
    fn probe(&self, n: u64, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_streamprobe"))
            .arg("probe")
            .args([
                "--source",
                &self.source,
                "--kafka-topic",
                &self.topic,
                "--amqp-target",
                &self.target,
                "--json",
                "--count",
                &n.to_string(),
                "--rate",
                "1000",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn probe")
    }
}

fn report(child: std::process::Child) -> (i32, Value) {
    let out = child.wait_with_output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// (total records of `run`, distinct seqs) in `topic`, by kcat.
fn kcat_counts(topic: &str, run: &str) -> (u64, u64) {
    let mut per_seq: BTreeMap<u64, u64> = BTreeMap::new();
    for r in kcat_all(topic) {
        if let Some(p) = streamprobe::envelope::Probe::decode(&r.body) {
            if p.run == run {
                *per_seq.entry(p.seq).or_default() += 1;
            }
        }
    }
    (per_seq.values().sum(), per_seq.len() as u64)
}

fn kafka_dest(r: &Value) -> &Value {
    r["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"].as_str().unwrap().starts_with("kafka:"))
        .unwrap()
}

#[test]
fn reports_match_kcat_when_the_pipeline_restarts_and_when_kafka_stops() {
    require_stack();
    const N: u64 = 4000;

    // Phase 1: kill -9 the pipeline mid-run, start a new one.
    let run = Run::new("chaos1");
    let mut p1 = run.pipeline();
    let probe = run.probe(N, &["--loss-timeout", "15"]);
    std::thread::sleep(Duration::from_millis(1500));
    p1.child.kill().unwrap();
    let _ = p1.child.wait();
    let mut p2 = run.pipeline();
    let (code, r) = report(probe);
    let k = kafka_dest(&r);
    let run_id = r["run_id"].as_str().unwrap();
    let (total, distinct) = kcat_counts(&run.topic, run_id);
    eprintln!("phase 1: exit {code}, kafka report {k}, kcat total {total} distinct {distinct}");
    assert_eq!(
        k["received"].as_u64().unwrap() + k["late"].as_u64().unwrap(),
        distinct,
        "received+late = distinct seqs kcat sees"
    );
    assert_eq!(
        k["duplicates"].as_u64().unwrap(),
        total - distinct,
        "duplicates = extra copies kcat sees"
    );
    assert_eq!(
        k["lost"].as_u64().unwrap(),
        N - distinct,
        "lost = seqs kcat never sees"
    );
    assert_eq!(code == 0, r["passed"] == true);
    assert_eq!(p2.interrupt(Duration::from_secs(20)), Some(0));

    // Phase 2: stop Kafka mid-run for 5 s. The stream waits (fan_out retries
    // forever); nothing is lost; the outage shows as latency.
    let run = Run::new("chaos2");
    let mut p = run.pipeline();
    let probe = run.probe(N, &["--loss-timeout", "60", "--max-p99", "1000"]);
    std::thread::sleep(Duration::from_millis(1000));
    stack("stop-kafka");
    std::thread::sleep(Duration::from_secs(5));
    stack("start-kafka");
    let (code, r) = report(probe);
    let k = kafka_dest(&r);
    let run_id = r["run_id"].as_str().unwrap();
    let (total, distinct) = kcat_counts(&run.topic, run_id);
    eprintln!("phase 2: exit {code}, kafka report {k}, kcat total {total} distinct {distinct}");
    assert_eq!(
        (k["received"].as_u64(), k["lost"].as_u64()),
        (Some(N), Some(0)),
        "{k}"
    );
    assert_eq!(distinct, N, "kcat sees every probe");
    assert_eq!(k["duplicates"].as_u64().unwrap(), total - distinct);
    assert!(
        k["latency_us"]["max"].as_u64().unwrap() >= 5_000_000,
        "the 5 s outage shows as latency: {k}"
    );
    assert_eq!(code, 1, "p99 above --max-p99 fails the run");
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
}
