//! End to end on the REAL stack: `streamprobe probe` through `streamprobe
//! pipeline`, its counts checked against kcat (Kafka) and Python
//! qpid-proton (a mirror AMQP queue), tools we did not write.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn probe(source: &str, topic: &str, target: &str, extra: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("probe")
        .args([
            "--source",
            source,
            "--kafka-topic",
            topic,
            "--amqp-target",
            target,
            "--json",
        ])
        .args(extra)
        .output()
        .expect("run streamprobe probe");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "probe printed no JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json)
}

fn dest<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// Distinct seqs of `run` among probe bodies.
fn seqs_of(run: &str, bodies: impl Iterator<Item = Vec<u8>>) -> (usize, BTreeSet<u64>) {
    let mut n = 0;
    let mut set = BTreeSet::new();
    for b in bodies {
        if let Some(p) = streamprobe::envelope::Probe::decode(&b) {
            if p.run == run {
                n += 1;
                set.insert(p.seq);
            }
        }
    }
    (n, set)
}

#[test]
fn probe_2000_through_the_pipeline_passes_and_matches_ground_truth() {
    require_stack();
    let (source, topic, target, mirror) = (
        unique("pr_src"),
        unique("pr_t"),
        unique("pr_q"),
        unique("pr_mirror"),
    );
    // declare the AMQP queues before anything is routed to them
    for q in [&target, &mirror] {
        let _ = proton_drain(q, 0, Duration::from_millis(100), Duration::from_secs(5));
    }
    let mut pipeline = mirror_pipeline(&source, &topic, &target, &mirror);
    let (out, r) = probe(&source, &topic, &target, &["--count", "2000"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "probe exit code; report: {r:#}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (
            r["sent"].as_u64(),
            r["confirmed"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(2000), Some(2000), Some(0))
    );
    let run = r["run_id"].as_str().unwrap().to_owned();
    for name in [format!("kafka:{topic}"), format!("amqp:{target}")] {
        let d = dest(&r, &name);
        assert_eq!(d["received"], 2000, "{name}: {d}");
        for k in ["lost", "duplicates", "late"] {
            assert_eq!(d[k], 0, "{name}.{k}: {d}");
        }
        assert_eq!(d["latency_us"]["count"], 2000);
        assert!(d["latency_us"]["p50"].as_u64().unwrap() > 0);
        assert!(d["latency_us"]["p50"].as_u64() <= d["latency_us"]["p99"].as_u64());
    }
    // ground truth: kcat reads the topic: exactly 2000 records, seqs 0..2000
    let recs = kcat_wait(&topic, 2000, Duration::from_secs(30));
    let (n, set) = seqs_of(&run, recs.into_iter().map(|r| r.body));
    assert_eq!((n, set.len()), (2000, 2000), "kcat sees every probe once");
    assert_eq!(set, (0..2000).collect());
    // the mirror queue got what the AMQP output was sent: 2000, once each
    let msgs = proton_drain(
        &mirror,
        2000,
        Duration::from_secs(1),
        Duration::from_secs(60),
    );
    let (n, set) = seqs_of(&run, msgs.iter().map(|m| m.body()));
    assert_eq!(
        (n, set.len()),
        (2000, 2000),
        "qpid-proton sees every probe once on the mirror"
    );
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}

#[test]
fn a_destination_that_receives_nothing_is_reported_lost_and_fails() {
    require_stack();
    let (source, topic, other, target, mirror) = (
        unique("pl_src"),
        unique("pl_t"),
        unique("pl_other"),
        unique("pl_q"),
        unique("pl_mirror"),
    );
    for q in [&target, &mirror] {
        let _ = proton_drain(q, 0, Duration::from_millis(100), Duration::from_secs(5));
    }
    // The pipeline's Kafka output writes ANOTHER topic than the one probed.
    let mut pipeline = mirror_pipeline(&source, &other, &target, &mirror);
    let (out, r) = probe(
        &source,
        &topic,
        &target,
        &["--count", "2000", "--loss-timeout", "3"],
    );
    assert_eq!(out.status.code(), Some(1), "probe must fail; report: {r:#}");
    let k = dest(&r, &format!("kafka:{topic}"));
    assert_eq!(
        (k["received"].as_u64(), k["lost"].as_u64()),
        (Some(0), Some(2000)),
        "{k}"
    );
    let a = dest(&r, &format!("amqp:{target}"));
    assert_eq!(
        (a["received"].as_u64(), a["lost"].as_u64()),
        (Some(2000), Some(0)),
        "{a}"
    );
    assert_eq!(r["passed"], false);
    // ground truth: the probed topic holds nothing, the other one all 2000
    assert_eq!(
        kcat_all(&topic).len(),
        0,
        "kcat: nothing reached the probed topic"
    );
    let run = r["run_id"].as_str().unwrap().to_owned();
    let (n, _) = seqs_of(
        &run,
        kcat_wait(&other, 2000, Duration::from_secs(30))
            .into_iter()
            .map(|r| r.body),
    );
    assert_eq!(n, 2000);
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}

#[test]
fn unreachable_broker_and_bad_config_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .args([
            "probe",
            "--kafka-brokers",
            "127.0.0.1:1",
            "--amqp-url",
            "amqp://127.0.0.1:1",
            "--connect-timeout",
            "3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not every link came up") && err.contains("kafka:FOO"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .args(["probe", "--payload-file", "/nonexistent.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--payload-file /nonexistent.json"));
}

/// `probe --json` with exit 2: one JSON object on stdout, the reason on stderr.
fn exit2_json(args: &[&str]) -> (Value, String, Duration) {
    let t0 = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("probe")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let took = t0.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON object ({e}): {err}"));
    assert_eq!(v["passed"], false, "{v}");
    (v, err, took)
}

#[test]
fn mistakes_known_at_once_fail_fast_and_machine_readably() {
    require_stack();
    // Wrong password: RabbitMQ answers a failed SASL login after ~3 s (the
    // same for qpid-proton); the probe gives up then, not after the 20 s
    // connect timeout, and never shows the password.
    let (v, err, took) = exit2_json(&["--amqp-password", "n0t-the-password", "--count", "5"]);
    assert_eq!(v["error"]["kind"], "refused", "{v}");
    let text = v.to_string() + &err;
    assert!(
        text.contains("authentication failed for user guest at amqp://localhost:5672"),
        "{text}"
    );
    assert!(!text.contains("n0t-the-password"), "{text}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    // Known before any connection: at once.
    for (args, want) in [
        (
            &["--amqp-url", "amqp://localhost:99999"][..],
            "invalid AMQP URL",
        ),
        (
            &["--amqp-url", "amqpx://localhost:5671"],
            "unsupported scheme",
        ),
        (&["--kafka-brokers", "localhost:0"], "is not 1..65535"),
        (&["--kafka-topic", "no/slashes"], "invalid Kafka topic name"),
        (&["--rate", "fast"], "--rate"),
        (&["--loss-timeout", "3 fortnights"], "--loss-timeout"),
    ] {
        let (v, _, took) = exit2_json(args);
        assert_eq!(v["error"]["kind"], "config", "{args:?}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(want), "{args:?}: {m}");
        assert!(took < Duration::from_secs(2), "{args:?} took {took:?}");
    }
    // A link that does not come up: the JSON names it and its last error.
    let (v, _, _) = exit2_json(&["--kafka-brokers", "127.0.0.1:1", "--connect-timeout", "2s"]);
    assert_eq!(v["error"]["kind"], "connect", "{v}");
    let links = v["error"]["links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["link"] == "kafka:FOO"), "{v}");
}

#[test]
fn probe_discovers_destinations_and_roles_from_the_stream_file() {
    require_stack();
    let (source, topic, dlq) = (unique("ps_src"), unique("ps_t"), unique("ps_dlq"));
    let _ = proton_drain(&dlq, 0, Duration::from_millis(100), Duration::from_secs(5));
    let env = [
        ("SOURCE_ADDRESS", source.as_str()),
        ("KAFKA_TOPIC", topic.as_str()),
        ("DLQ_ADDRESS", dlq.as_str()),
    ];
    let file = root().join("tests/fixtures/deadletter.yaml");
    let mut pipeline = Pipeline::start(&file, &env);
    let (out, r, _) = probe_json(
        &["--count", "300", "--stream", file.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    let k = dest(&r, &format!("kafka:{topic}"));
    assert_eq!(
        (
            k["role"].as_str(),
            k["received"].as_u64(),
            k["lost"].as_u64()
        ),
        (Some("primary"), Some(300), Some(0))
    );
    let d = dest(&r, &format!("amqp:{dlq}"));
    assert_eq!(
        (d["role"].as_str(), d["received"].as_u64()),
        (Some("dead_letter"), Some(0)),
        "nothing dead-lettered while Kafka is up"
    );
    let run = r["run_id"].as_str().unwrap().to_owned();
    let (n, _) = seqs_of(
        &run,
        kcat_wait(&topic, 300, Duration::from_secs(30))
            .into_iter()
            .map(|r| r.body),
    );
    assert_eq!(n, 300, "kcat agrees");
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}

#[test]
fn order_is_judged_per_kafka_partition() {
    require_stack();
    let (source, topic, target) = (unique("pp_src"), unique("pp_t"), unique("pp_q"));
    create_topic(&topic, 3, "retention.ms=3600000");
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let mut pipeline = Pipeline::start(
        &root().join("tests/fixtures/partitioned.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    let (out, r) = probe(
        &source,
        &topic,
        &target,
        &["--count", "600", "--rate", "300"],
    );
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    // paced: every send's lag against its intended time is counted
    assert_eq!(r["sender_lag_us"]["count"], 600, "{r:#}");
    let k = dest(&r, &format!("kafka:{topic}"));
    assert_eq!(k["out_of_order"], 0, "{k}");
    assert_eq!(k["partitions"], serde_json::json!([0, 1, 2]), "{k}");
    assert_eq!(
        dest(&r, &format!("amqp:{target}"))["partitions"],
        Value::Null
    );
    // the split at the producer's CreateTime: both parts present, and they
    // add up to no more than the end-to-end max
    let split = &k["kafka_split"];
    assert_eq!(split["at"], "produce", "{k}");
    assert_eq!(split["from_timestamp_us"]["count"], 600, "{k}");
    assert!(
        split["from_timestamp_us"]["max"].as_u64() <= k["latency_us"]["max"].as_u64(),
        "{k}"
    );
    // ground truth (kcat): every partition holds probes in increasing seq
    // order, all three hold some, while the topic as a whole interleaves
    let run = r["run_id"].as_str().unwrap().to_owned();
    let text = Command::new("kcat")
        .args([
            "-C",
            "-b",
            "127.0.0.1:9092",
            "-t",
            &topic,
            "-e",
            "-q",
            "-o",
            "beginning",
        ])
        .args(["-f", "%p %s\n"])
        .output()
        .expect("kcat")
        .stdout;
    let mut per: std::collections::BTreeMap<u32, Vec<u64>> = Default::default();
    for line in String::from_utf8_lossy(&text).lines() {
        let (p, body) = line.split_once(' ').unwrap();
        if let Some(pr) = streamprobe::envelope::Probe::decode(body.as_bytes()) {
            if pr.run == run {
                per.entry(p.parse().unwrap()).or_default().push(pr.seq);
            }
        }
    }
    assert_eq!(per.keys().copied().collect::<Vec<_>>(), [0, 1, 2], "kcat");
    assert_eq!(per.values().map(Vec::len).sum::<usize>(), 600);
    for (p, seqs) in &per {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "partition {p} out of order per kcat"
        );
    }
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}

#[test]
fn probe_stream_on_a_kafka_input_injects_into_its_topic() {
    require_stack();
    let (topic, group, target) = (unique("rk_dlq"), unique("rk_group"), unique("rk_foo"));
    create_topic(&topic, 1, "retention.ms=3600000");
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let file = root().join("tests/fixtures/recovery_from_kafka.yaml");
    let env = [
        ("DLQ_TOPIC", topic.as_str()),
        ("GROUP", group.as_str()),
        ("TARGET_ADDRESS", target.as_str()),
    ];
    let mut pipeline = Pipeline::start(&file, &env);
    pipeline.wait_for_log("stream starting", Duration::from_secs(20));
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .args([
            "probe",
            "--json",
            "--count",
            "300",
            "--property",
            "tenant=acme",
        ])
        .arg("--stream")
        .arg(&file)
        .envs(env)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_eq!(
        (r["sent"].as_u64(), r["confirmed"].as_u64()),
        (Some(300), Some(300))
    );
    let names: Vec<&str> = r["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("amqp:{target}")]);
    let d = dest(&r, &format!("amqp:{target}"));
    assert_eq!(
        (d["received"].as_u64(), d["lost"].as_u64()),
        (Some(300), Some(0)),
        "{d}"
    );
    // ground truth: kcat finds the 300 probes in the dead-letter topic,
    // with the property as a record header
    let run = r["run_id"].as_str().unwrap().to_owned();
    let recs = kcat_wait(&topic, 300, Duration::from_secs(20));
    let (n, set) = seqs_of(&run, recs.iter().map(|r| r.body.clone()));
    assert_eq!((n, set.len()), (300, 300));
    assert!(
        recs.iter().all(|r| r.headers.contains("tenant=acme")),
        "{}",
        recs[0].headers
    );
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}
