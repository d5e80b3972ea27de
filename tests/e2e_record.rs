//! End to end on the REAL stack: `streamprobe probe --record FILE` through
//! `streamprobe pipeline stream.yaml`, then `streamprobe report FILE`: the
//! report folded from the recording says what the probe said, and the
//! recording holds one arrival line per record kcat finds in the topic.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn json_of(what: &str, out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn dest<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["destinations"]
        .as_array()
        .expect("destinations")
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

#[test]
fn report_of_a_recorded_probe_run_equals_the_probe_report() {
    require_stack();
    let (source, topic, target) = (unique("rec_src"), unique("rec_t"), unique("rec_q"));
    // declare the AMQP target before anything is routed to it
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let mut pipeline = Pipeline::start(
        &root().join("stream.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    let file = std::env::temp_dir().join(format!("{}.jsonl", unique("recording")));
    let probe = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .args([
            "probe",
            "--source",
            &source,
            "--kafka-topic",
            &topic,
            "--amqp-target",
            &target,
            "--count",
            "500",
            "--json",
            "--record",
        ])
        .arg(&file)
        .output()
        .expect("run streamprobe probe");
    let p = json_of("probe", &probe);
    assert_eq!(
        probe.status.code(),
        Some(0),
        "probe exit code; report: {p:#}\nstderr: {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let report = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("report")
        .arg(&file)
        .arg("--json")
        .output()
        .expect("run streamprobe report");
    let r = json_of("report", &report);
    assert_eq!(
        report.status.code(),
        probe.status.code(),
        "exit codes; report: {r:#}\nstderr: {}",
        String::from_utf8_lossy(&report.stderr)
    );
    for k in [
        "run_id",
        "requested",
        "sent",
        "confirmed",
        "failed",
        "publish_settle_us",
        "sender_lag_us",
        "passed",
        "problems",
    ] {
        assert_eq!(r[k], p[k], "{k}: report {r:#}\nprobe {p:#}");
    }
    let names = [format!("kafka:{topic}"), format!("amqp:{target}")];
    for name in &names {
        let (pd, rd) = (dest(&p, name), dest(&r, name));
        for k in [
            "role",
            "received",
            "lost",
            "duplicates",
            "late",
            "out_of_order",
            "foreign",
            "latency_us",
        ] {
            assert_eq!(rd[k], pd[k], "{name}.{k}: report {rd}\nprobe {pd}");
        }
        assert_eq!(pd["received"], 500, "{name}: {pd}");
        let (pa, ra) = (
            pd["last_arrival_ms"].as_u64().expect("ms"),
            rd["last_arrival_ms"].as_u64().expect("ms"),
        );
        assert!(pa.abs_diff(ra) <= 1, "{name}: last arrival {ra} vs {pa} ms");
    }

    // The recording itself: every line JSON, a header naming the run, and as many
    // Kafka arrival lines as kcat finds records in the (unique) topic.
    let text = std::fs::read_to_string(&file).expect("read the recording");
    assert!(
        !text.contains("guest"),
        "no credentials in the recording (not even the user)"
    );
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines[0]["type"], "session");
    assert_eq!(lines[0]["version"], 1);
    assert_eq!(lines[0]["run"], p["run_id"], "the header names the run");
    let count = |ty: &str| lines.iter().filter(|l| l["type"] == ty).count();
    assert_eq!(
        (count("run"), count("sent"), count("confirmed")),
        (0, 500, 500)
    );
    let kafka_arrivals = lines
        .iter()
        .filter(|l| l["type"] == "arrived" && l["name"] == names[0].as_str())
        .count();
    let kcat = kcat_wait(&topic, 500, Duration::from_secs(30));
    assert_eq!(
        kafka_arrivals,
        kcat.len(),
        "arrival lines for {} vs records kcat reads",
        names[0]
    );
    assert_eq!(kcat.len(), 500);

    // A malformed line makes the recording unreadable, named by its number.
    let broken = std::env::temp_dir().join(format!("{}.jsonl", unique("broken")));
    std::fs::write(&broken, format!("{text}{{\"type\":\"sent\"\n")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("report")
        .arg(&broken)
        .output()
        .expect("run streamprobe report");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "streamprobe report: {}:{}: ",
            broken.display(),
            lines.len() + 1
        )),
        "{err}"
    );
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&broken);
}
