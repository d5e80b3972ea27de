//! Real stack: a `fallback` whose Kafka primary fails moves every message to
//! the AMQP dead-letter address, each carrying `fallback_error` (as a
//! message annotation) and the literal application property of the
//! dead-letter output, checked with Python qpid-proton.

mod common;

use std::time::Duration;

use common::*;
use fe2o3_amqp::types::messaging::Outcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_kafka_primary_falls_back_to_the_amqp_dead_letter_address() {
    require_stack();
    let (source, topic, dlq) = (unique("fb_src"), unique("fb_t"), unique("fb_dlq"));
    let _ = proton_drain(&dlq, 0, Duration::from_millis(100), Duration::from_secs(5));
    let mut pipeline = Pipeline::start(
        &root().join("tests/fixtures/fallback.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("DLQ_ADDRESS", &dlq),
        ],
    );
    let outcomes = amqp_send(&source, (0..20).map(|i| format!("dead letter {i}"))).await;
    for out in outcomes {
        assert!(matches!(out, Outcome::Accepted(_)));
    }
    let msgs = proton_drain(&dlq, 20, Duration::from_secs(2), Duration::from_secs(90));
    assert_eq!(msgs.len(), 20, "pipeline log:\n{}", pipeline.log_text());
    let mut bodies: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8(m.body()).unwrap())
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("dead letter {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    for m in &msgs {
        let err = m
            .annotations
            .get("fallback_error")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        assert!(
            err.contains("kafka topic"),
            "fallback_error annotation expected, got {:?}",
            m.annotations
        );
        assert_eq!(
            m.properties["dead_letter"], "true",
            "literal application_properties_map"
        );
    }
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}
