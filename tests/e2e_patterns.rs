//! Real stack: broker patterns `round_robin` (each message to one output in
//! turn: 10 + 10 of 20), `fan_out_sequential` (every message to every
//! output) and `greedy` (only to outputs with room), three streams of one
//! Tyk-style `streams:` file in one process; the `*_fail_fast` patterns nack;
//! `drop_on` turns back pressure into a fallback to a dead-letter queue and
//! drops (acks) on error. Counts by qpid-proton, kcat and rabbitmqctl.

mod common;

use std::time::Duration;

use common::*;

async fn inject(address: &str, n: usize) {
    amqp_send(address, (0..n).map(|i| format!("m{i}"))).await;
}

/// Unique source / topic / target names (`<tag>_src`, ...), the target
/// emptied, and `tests/fixtures/<fixture>` running on them.
fn start_fixture(fixture: &str, tag: &str) -> (Pipeline, String, String, String) {
    let (source, topic, target) = (
        unique(&format!("{tag}_src")),
        unique(&format!("{tag}_t")),
        unique(&format!("{tag}_q")),
    );
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let p = Pipeline::start(
        &root().join("tests/fixtures").join(fixture),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    (p, source, topic, target)
}

/// Waits for the second nack (logged at most once a second) and asserts the
/// input kept its session: a nack (Released) must not cost it the session
/// (RabbitMQ 3.10.8 closes it on Modified).
fn assert_nacks_settle_cleanly(p: &Pipeline) {
    let start = std::time::Instant::now();
    while p.log_text().matches("nacking").count() < 2 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = p.log_text();
    assert!(
        log.matches("nacking").count() >= 2
            && !log.contains("input link lost")
            && !log.contains("could not settle"),
        "nacks settle cleanly and are redelivered; log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_splits_and_fan_out_sequential_copies() {
    require_stack();
    let names: Vec<String> = [
        "rr_src", "rr_a", "rr_b", "seq_src", "seq_a", "seq_t", "gr_src", "gr_a",
    ]
    .iter()
    .map(|p| unique(p))
    .collect();
    for q in [&names[1], &names[2], &names[4], &names[6], &names[7]] {
        let _ = proton_drain(q, 0, Duration::from_millis(100), Duration::from_secs(5));
    }
    let env: Vec<(&str, &str)> = [
        "RR_SOURCE",
        "RR_A",
        "RR_B",
        "SEQ_SOURCE",
        "SEQ_A",
        "SEQ_T",
        "GREEDY_SOURCE",
        "GREEDY_A",
    ]
    .into_iter()
    .zip(names.iter().map(String::as_str))
    .collect();
    let mut p = Pipeline::start(&root().join("tests/fixtures/patterns.yaml"), &env);
    p.wait_for_log("source=".to_owned().as_str(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    inject(&names[0], 20).await;
    inject(&names[3], 20).await;
    inject(&names[6], 20).await;
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
    // greedy: the unreachable output takes one message (then has no room);
    // every other one goes to the ready output.
    let gr = proton_drain(
        &names[7],
        19,
        Duration::from_secs(2),
        Duration::from_secs(30),
    );
    let mut bodies: Vec<Vec<u8>> = gr.iter().map(|m| m.body()).collect();
    bodies.sort();
    bodies.dedup();
    assert!(
        (19..=20).contains(&gr.len()) && bodies.len() == gr.len(),
        "greedy: 19 (or, 1 in 2^20 runs, 20) distinct messages at the ready output, got {}; log:\n{}",
        gr.len(),
        p.log_text()
    );
    assert_eq!(
        queue_messages(&names[6]),
        Some(20 - gr.len() as u64),
        "rabbitmqctl: the message held by the unreachable output is still unsettled in the source"
    );
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        queue_messages(&names[6]),
        Some(20 - gr.len() as u64),
        "rabbitmqctl: after Ctrl-C the held message is back in the source, not lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_fail_fast_nacks_and_the_broker_keeps_the_message() {
    require_stack();
    let (mut p, source, _, target) = start_fixture("fail_fast.yaml", "ff");
    inject(&source, 1).await;
    assert_nacks_settle_cleanly(&p);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_sequential_fail_fast_stops_at_the_first_failing_output() {
    require_stack();
    let (mut p, source, _, target) = start_fixture("seq_fail_fast.yaml", "sff");
    inject(&source, 1).await;
    assert_nacks_settle_cleanly(&p);
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        queue_messages(&source),
        Some(1),
        "rabbitmqctl: the nacked message stays in {source}"
    );
    // Sequential: the AMQP output comes after the failing Kafka one, so it
    // never got a copy (fan_out_fail_fast would have sent one).
    assert!(
        proton_drain(
            &target,
            0,
            Duration::from_millis(500),
            Duration::from_secs(10)
        )
        .is_empty(),
        "the second output got nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_on_back_pressure_feeds_a_dead_letter_queue_and_drop_on_error_acks() {
    require_stack();
    let (dlq_src, dlq, drop_src) = (unique("do_src"), unique("do_dlq"), unique("do_drop"));
    let _ = proton_drain(&dlq, 0, Duration::from_millis(100), Duration::from_secs(5));
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/drop_on.yaml"),
        &[
            ("DLQ_SOURCE", &dlq_src),
            ("DLQ_TARGET", &dlq),
            ("DROP_SOURCE", &drop_src),
        ],
    );
    p.wait_for_log("source=".to_owned().as_str(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    inject(&dlq_src, 20).await;
    inject(&drop_src, 5).await;
    // The unreachable primary holds the first message (max_in_flight: 1);
    // the other 19 wait 500ms each for room, fail, and go to the DLQ.
    let dead = proton_drain(&dlq, 19, Duration::from_secs(2), Duration::from_secs(60));
    assert_eq!(dead.len(), 19, "log:\n{}", p.log_text());
    for m in &dead {
        let e = m.annotations.get("fallback_error").and_then(|v| v.as_str());
        assert!(
            e.is_some_and(|e| e.contains("back pressure for longer than 500ms")),
            "fallback_error annotation: {e:?}"
        );
    }
    p.wait_for_log("drop_on: message dropped", Duration::from_secs(20));
    let start = std::time::Instant::now();
    while queue_messages(&drop_src) != Some(0) && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        queue_messages(&drop_src),
        Some(0),
        "rabbitmqctl: drop_on error: true acked all 5"
    );
    assert_eq!(p.log_text().matches("drop_on: message dropped").count(), 5);
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        queue_messages(&dlq_src),
        Some(1),
        "rabbitmqctl: the message the primary held is back in the source, not lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_waits_behind_an_output_that_keeps_failing() {
    require_stack();
    let (mut p, source, topic, target) = start_fixture("stall.yaml", "st");
    let mut bodies = vec!["first".to_owned(), "x".repeat(5000)];
    bodies.extend((0..6).map(|i| format!("after-{i}")));
    amqp_send(&source, bodies).await;
    p.wait_for_log("output failed; retrying", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(4));
    // Kafka has the first message and at most the one that was already
    // waiting for its max_in_flight slot; the rest wait in the source.
    let kafka = kcat_all(&topic);
    assert!(
        (1..=2).contains(&kafka.len()) && kafka[0].body == b"first",
        "kcat: {} records; log:\n{}",
        kafka.len(),
        p.log_text()
    );
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
    std::thread::sleep(Duration::from_millis(500));
    // Nothing dropped: every message not confirmed by both outputs is back
    // in the source (the big one and the ones behind it).
    let waiting = queue_messages(&source).unwrap_or(0);
    assert!(
        waiting >= 6,
        "rabbitmqctl: {waiting} messages back in the source (expected the big one and at least 5 behind it)"
    );
    let amqp = proton_drain(&target, 1, Duration::from_secs(1), Duration::from_secs(10));
    assert!(
        amqp.len() <= 3,
        "the AMQP output waited too: {} messages",
        amqp.len()
    );
}
