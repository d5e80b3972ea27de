//! Dead-letter round trip on the REAL stack: with Kafka stopped, the
//! kafka-primary / AMQP-fallback stream puts every message on the AMQP
//! dead-letter address (RabbitMQ's own count, via rabbitmqctl); with Kafka
//! back, the recovery stream moves them to Kafka, where kcat sees each one
//! once, with the `fallback_error` header. Nothing is lost.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;

const N: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_go_to_amqp_while_kafka_is_down_and_come_back() {
    require_stack();
    let (source, topic, dlq) = (unique("dl_src"), unique("dl_t"), unique("dl_dlq"));
    let _ = proton_drain(&dlq, 0, Duration::from_millis(100), Duration::from_secs(5));
    let env = [
        ("SOURCE_ADDRESS", source.as_str()),
        ("KAFKA_TOPIC", topic.as_str()),
        ("DLQ_ADDRESS", dlq.as_str()),
    ];
    stack("stop-kafka");
    let mut primary = Pipeline::start(&root().join("tests/fixtures/deadletter.yaml"), &env);

    amqp_send(&source, (0..N).map(|i| format!("order {i}"))).await;

    // RabbitMQ's own count of dead letters reaches N.
    let start = Instant::now();
    while queue_messages(&dlq) != Some(N as u64) && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        queue_messages(&dlq),
        Some(N as u64),
        "rabbitmqctl: dead letters on {dlq}; log:\n{}",
        primary.log_text()
    );
    assert_eq!(primary.interrupt(Duration::from_secs(20)), Some(0));

    // Kafka back; the recovery stream moves them.
    stack("start-kafka");
    let mut recovery = Pipeline::start(&root().join("tests/fixtures/recovery.yaml"), &env);
    let recs = kcat_wait(&topic, N, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(1));
    let recs_after = kcat_all(&topic);
    assert_eq!(
        recs.len(),
        N,
        "kcat: records on {topic}; log:\n{}",
        recovery.log_text()
    );
    assert_eq!(recs_after.len(), N, "no extra records");
    let bodies: BTreeSet<String> = recs
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(bodies, (0..N).map(|i| format!("order {i}")).collect());
    for r in &recs {
        assert!(
            r.headers.contains("fallback_error="),
            "fallback_error header expected: {:?}",
            r.headers
        );
    }
    assert_eq!(
        queue_messages(&dlq),
        Some(0),
        "the dead-letter queue is drained"
    );
    assert_eq!(recovery.interrupt(Duration::from_secs(20)), Some(0));
}
