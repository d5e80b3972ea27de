//! Issue 4's chaos test on the REAL stack: the shipped `stream.yaml` (the
//! seed's settings: Kafka `max_in_flight: 1`) moves 10,000 messages while
//! RabbitMQ is restarted once and Kafka is restarted once. Afterwards the
//! Kafka topic (read by kcat) and the AMQP target (counted by rabbitmqctl,
//! read by Python qpid-proton) each hold every one of the 10,000 bodies at
//! least once; duplicates are allowed (at-least-once) and printed.
//!
//! Source and target are durable quorum queues declared by
//! `scripts/stack.sh queue` and addressed as `/amq/queue/NAME`: the queues
//! RabbitMQ 3.10 declares on attach are not durable, and Bento's amqp_1
//! output sends transient messages, so only a queue type that persists every
//! message survives the restart (README, "Surviving a broker restart").
//! Its own test binary: it restarts the brokers other tests use.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

const N: usize = 10_000;

/// Polls `f` every 250 ms until it returns true; panics with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn count_bodies<'a>(bodies: impl Iterator<Item = &'a [u8]>) -> BTreeMap<Vec<u8>, u32> {
    let mut m = BTreeMap::new();
    for b in bodies {
        *m.entry(b.to_vec()).or_default() += 1;
    }
    m
}

#[test]
fn ten_thousand_messages_survive_a_rabbitmq_and_a_kafka_restart() {
    require_stack();
    let (src, topic, dst) = (unique("rst_src"), unique("rst_t"), unique("rst_q"));
    durable_queues(&[&src, &dst]);
    let expected: Vec<String> = (0..N).map(|i| format!("restart-{src}-{i:05}")).collect();

    // Inject all 10,000 first (accepted by RabbitMQ, which rabbitmqctl confirms).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(amqp_send_pipelined(
        &format!("/amq/queue/{src}"),
        expected.clone(),
    ));
    // rabbitmqctl's counts are statistics, refreshed every few seconds.
    wait_until(
        "rabbitmqctl to count 10,000 in the source queue",
        Duration::from_secs(30),
        || queue_messages(&src) == Some(N as u64),
    );

    let (src_addr, dst_addr) = (format!("/amq/queue/{src}"), format!("/amq/queue/{dst}"));
    let mut p = Pipeline::start(
        &root().join("stream.yaml"),
        &[
            ("AMQP_URL", "amqp://127.0.0.1:5672"),
            ("SOURCE_ADDRESS", &src_addr),
            ("TARGET_ADDRESS", &dst_addr),
            ("KAFKA_TOPIC", &topic),
            ("KAFKA_ADDRESS", KAFKA),
        ],
    );
    // Progress by Kafka's end offset (exact, unlike rabbitmqctl's periodic
    // statistics); each restart must begin while messages are still flowing.
    let moved = || kafka_end_offset(&topic) as usize;

    // While they flow: restart RabbitMQ once ...
    wait_until("1,500 records in Kafka", Duration::from_secs(120), || {
        moved() >= 1_500
    });
    let at = moved();
    assert!(
        at < N,
        "the flow finished before RabbitMQ could be restarted"
    );
    stack("restart-rabbitmq");
    eprintln!("restarted RabbitMQ at {at} records in Kafka");
    // ... and Kafka once.
    wait_until(
        "1,500 more records after the RabbitMQ restart",
        Duration::from_secs(180),
        || moved() >= at + 1_500,
    );
    let at = moved();
    assert!(at < N, "the flow finished before Kafka could be restarted");
    stack("restart-kafka");
    eprintln!("restarted Kafka at {at} records in Kafka");

    // Done when the source queue is empty: a source message is accepted only
    // after both outputs confirmed it.
    wait_until(
        "the source queue to drain",
        Duration::from_secs(300),
        || queue_messages(&src) == Some(0) && moved() >= N,
    );
    assert_eq!(
        p.interrupt(Duration::from_secs(30)),
        Some(0),
        "pipeline exit code after Ctrl-C"
    );

    // Ground truth, AMQP: rabbitmqctl's count (once it is the same in two
    // readings a statistics interval apart), then every message by qpid-proton.
    let mut in_queue = queue_messages(&dst).expect("rabbitmqctl list_queues") as usize;
    loop {
        std::thread::sleep(Duration::from_secs(6));
        let now = queue_messages(&dst).expect("rabbitmqctl list_queues") as usize;
        if now == in_queue {
            break;
        }
        in_queue = now;
    }
    let got = proton_drain(
        &dst_addr,
        in_queue,
        Duration::from_secs(2),
        Duration::from_secs(120),
    );
    assert_eq!(
        got.len(),
        in_queue,
        "qpid-proton read what rabbitmqctl counted"
    );
    let amqp = count_bodies(
        got.iter()
            .map(|m| m.body())
            .collect::<Vec<_>>()
            .iter()
            .map(|b| b.as_slice()),
    );
    // Ground truth, Kafka: kcat.
    let recs = kcat_wait(&topic, N, Duration::from_secs(60));
    let kafka = count_bodies(recs.iter().map(|r| r.body.as_slice()));

    for (name, seen, total) in [
        ("AMQP target", &amqp, in_queue),
        ("Kafka topic", &kafka, recs.len()),
    ] {
        let missing: Vec<&String> = expected
            .iter()
            .filter(|b| !seen.contains_key(b.as_bytes()))
            .collect();
        let foreign = seen
            .keys()
            .filter(|b| !b.starts_with(format!("restart-{src}-").as_bytes()))
            .count();
        eprintln!(
            "{name}: {total} messages, {} distinct, {} duplicates, {} missing",
            seen.len(),
            total - seen.len(),
            missing.len()
        );
        assert!(
            missing.is_empty(),
            "{name}: {} of {N} bodies missing, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );
        assert_eq!(foreign, 0, "{name}: bodies that were never injected");
    }
    for q in [&src, &dst] {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_queue", q.as_str()])
            .status();
    }
}
