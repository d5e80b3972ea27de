//! Real stack: broker patterns `round_robin` (each message to one output in
//! turn: 10 + 10 of 20) and `fan_out_sequential` (every message to every
//! output), two streams of one Tyk-style `streams:` file in one process.
//! Counts by qpid-proton and kcat.

mod common;

use std::time::Duration;

use common::*;

async fn inject(address: &str, n: usize) {
    amqp_send(address, (0..n).map(|i| format!("m{i}"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_splits_and_fan_out_sequential_copies() {
    require_stack();
    let names: Vec<String> = ["rr_src", "rr_a", "rr_b", "seq_src", "seq_a", "seq_t"]
        .iter()
        .map(|p| unique(p))
        .collect();
    for q in [&names[1], &names[2], &names[4]] {
        let _ = proton_drain(q, 0, Duration::from_millis(100), Duration::from_secs(5));
    }
    let env: Vec<(&str, &str)> = ["RR_SOURCE", "RR_A", "RR_B", "SEQ_SOURCE", "SEQ_A", "SEQ_T"]
        .into_iter()
        .zip(names.iter().map(String::as_str))
        .collect();
    let mut p = Pipeline::start(&root().join("tests/fixtures/patterns.yaml"), &env);
    p.wait_for_log("source=".to_owned().as_str(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    inject(&names[0], 20).await;
    inject(&names[3], 20).await;
    let a = proton_drain(
        &names[1],
        10,
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    let b = proton_drain(
        &names[2],
        10,
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    assert_eq!(
        (a.len(), b.len()),
        (10, 10),
        "round_robin splits 20 into 10 + 10; log:\n{}",
        p.log_text()
    );
    let seq_a = proton_drain(
        &names[4],
        20,
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    assert_eq!(
        seq_a.len(),
        20,
        "fan_out_sequential: every message to the AMQP output"
    );
    assert_eq!(
        kcat_wait(&names[5], 20, Duration::from_secs(30)).len(),
        20,
        "and to the Kafka output"
    );
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_fail_fast_nacks_and_the_broker_keeps_the_message() {
    require_stack();
    let (source, topic, target) = (unique("ff_src"), unique("ff_t"), unique("ff_q"));
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/fail_fast.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    inject(&source, 1).await;
    p.wait_for_log("nacking", Duration::from_secs(20));
    // The message is still RabbitMQ's (redelivered again and again), never dropped.
    assert_eq!(
        queue_messages(&source),
        Some(1),
        "rabbitmqctl: the message stays in {source}"
    );
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        queue_messages(&source),
        Some(1),
        "after the pipeline stopped, still there"
    );
    // the AMQP output got copies (at-least-once: each redelivery sends again)
    assert!(
        !proton_drain(
            &target,
            1,
            Duration::from_millis(500),
            Duration::from_secs(10)
        )
        .is_empty()
    );
}
