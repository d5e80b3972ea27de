//! A second AMQP 1.0 broker: Apache ActiveMQ Artemis (scripts/stack.sh
//! start-artemis, 127.0.0.1:5673). The local runner runs the seed's
//! fan-out with Artemis as source and AMQP destination
//! (tests/fixtures/artemis.yaml), the probe injects into and reads from
//! Artemis, and Artemis's own CLI (`artemis queue stat`) is the ground
//! truth: every probe added to and acknowledged on both queues. The broker
//! view says why it shows no queue figures (its API is RabbitMQ's).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const ARTEMIS: &str = "amqp://127.0.0.1:5673";

/// `artemis queue stat` for `queue`: (messages added, acknowledged, count).
fn queue_stat(queue: &str) -> (u64, u64, u64) {
    let out = Command::new("bash")
        .arg(root().join("scripts/stack.sh"))
        .args(["artemis", "queue", "stat", "--queueName", queue])
        .output()
        .expect("run scripts/stack.sh artemis queue stat");
    let text = String::from_utf8_lossy(&out.stdout);
    let row: Vec<String> = text
        .lines()
        .map(|l| {
            l.split('|')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.get(1).is_some_and(|n| n == queue))
        .unwrap_or_else(|| panic!("no row for {queue} in:\n{text}"));
    // |NAME|ADDRESS|CONSUMER COUNT|MESSAGE COUNT|MESSAGES ADDED|DELIVERING|MESSAGES ACKED|...
    let n = |i: usize| row[i].parse::<u64>().unwrap_or_else(|_| panic!("{row:?}"));
    (n(5), n(7), n(4))
}

#[test]
fn the_runner_and_probe_run_the_fan_out_on_artemis() {
    require_stack();
    stack("start-artemis");
    let (source, topic, target) = (unique("art_src"), unique("art_t"), unique("art_q"));
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/artemis.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    let (out, r, _) = probe_json(
        &[
            "--count",
            "300",
            "--amqp-url",
            ARTEMIS,
            "--source",
            &source,
            "--amqp-target",
            &target,
            "--kafka-topic",
            &topic,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    for d in r["destinations"].as_array().unwrap() {
        assert_eq!(
            (
                d["received"].as_u64(),
                d["lost"].as_u64(),
                d["duplicates"].as_u64()
            ),
            (Some(300), Some(0), Some(0)),
            "{d:#}"
        );
    }
    // the broker view is RabbitMQ's: it says it has nothing for Artemis
    assert!(
        r["source"]["broker_off"]
            .as_str()
            .is_some_and(|s| s.contains("is not the RabbitMQ")),
        "{r:#}"
    );
    // ground truth: Artemis's CLI counts 300 added and 300 acknowledged on
    // the source queue (the stream took them) and the target (the probe did)
    assert_eq!(queue_stat(&source), (300, 300, 0));
    assert_eq!(queue_stat(&target), (300, 300, 0));
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
}
