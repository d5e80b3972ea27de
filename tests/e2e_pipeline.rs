//! End to end on the REAL stack: `streamprobe pipeline stream.yaml` moves
//! 1,000 messages injected into the source to Kafka and to AMQP, each body
//! byte-identical, with all metadata deleted. Ground truth comes from kcat
//! and Python qpid-proton, not from streamprobe's own consumers.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use fe2o3_amqp::types::messaging::annotations::OwnedKey;
use fe2o3_amqp::types::messaging::{
    ApplicationProperties, Message, MessageAnnotations, Outcome, Properties,
};
use fe2o3_amqp::types::primitives::{Binary, Symbol, Value};
use streamprobe::amqp;

const N: usize = 1000;

fn body(i: usize) -> Vec<u8> {
    // Varied bytes: JSON-ish, quotes, backslashes, multi-byte UTF-8, a tab,
    // a control character; never 0x1e/0x1f (kcat record separators) or '\n'.
    format!(
        "{{\"i\":{i},\"s\":\"héllo \\\"q\\\" \\\\ ✓ \t\u{1}\"}}-{}",
        "x".repeat(i % 50)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yaml_fans_out_1000_messages_with_metadata_deleted() {
    require_stack();
    let source = unique("e2e_src");
    let dest = unique("e2e_foo");
    // The AMQP destination queue must exist before messages are routed to
    // it; attaching a receiver declares it (RabbitMQ 3.x bare address).
    let _ = proton_drain(&dest, 0, Duration::from_millis(100), Duration::from_secs(5));

    let mut pipeline = Pipeline::start(
        &root().join("stream.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &dest),
            ("TARGET_ADDRESS", &dest),
        ],
    );

    // Inject with a content type, an application property and a message
    // annotation: the stream must delete all of it.
    let ep = guest();
    let mut s = amqp::connect(&ep, "e2e-injector").await.expect("connect");
    let mut sender = amqp::attach_sender(&mut s, "e2e-injector", &source)
        .await
        .expect("attach");
    let mut pending = Vec::new();
    for i in 0..N {
        let mut ann = MessageAnnotations::default();
        ann.0.insert(
            OwnedKey::Symbol(Symbol::from("x-opt-e2e")),
            Value::String(format!("a{i}")),
        );
        let m = Message::builder()
            .properties(Properties::builder().content_type("text/plain").build())
            .application_properties(
                ApplicationProperties::builder()
                    .insert("origin", "e2e")
                    .build(),
            )
            .message_annotations(ann)
            .data(Binary::from(body(i)))
            .build();
        pending.push(sender.send_batchable(m).await.expect("send"));
    }
    for p in pending {
        assert!(matches!(p.await.expect("settled"), Outcome::Accepted(_)));
    }
    let _ = sender.close().await;
    s.close().await;
    let expected: BTreeSet<Vec<u8>> = (0..N).map(body).collect();

    // Kafka, read by kcat.
    let recs = kcat_wait(&dest, N, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(2));
    let recs_after = kcat_all(&dest);
    assert_eq!(
        recs.len(),
        N,
        "kafka records (kcat); pipeline log:\n{}",
        pipeline.log_text()
    );
    assert_eq!(recs_after.len(), N, "no extra kafka records arrive later");
    let got: BTreeSet<Vec<u8>> = recs.iter().map(|r| r.body.clone()).collect();
    assert_eq!(
        got, expected,
        "kafka bodies are byte-identical to what was sent"
    );
    for r in &recs {
        assert!(
            r.headers.is_empty(),
            "no kafka headers expected (metadata deleted), got {:?}",
            r.headers
        );
    }

    // AMQP, read by Python qpid-proton.
    let msgs = proton_drain(&dest, N, Duration::from_secs(2), Duration::from_secs(90));
    assert_eq!(
        msgs.len(),
        N,
        "amqp messages (qpid-proton); pipeline log:\n{}",
        pipeline.log_text()
    );
    let got: BTreeSet<Vec<u8>> = msgs.iter().map(|m| m.body()).collect();
    assert_eq!(
        got, expected,
        "amqp bodies are byte-identical to what was sent"
    );
    for m in &msgs {
        assert_eq!(m.body_type, "data");
        assert_eq!(
            m.content_type, None,
            "content type must not be carried over"
        );
        assert_eq!(
            m.properties,
            serde_json::json!({}),
            "no application properties expected"
        );
        let ann = m.annotations.as_object().expect("annotations map");
        assert!(
            !ann.keys()
                .any(|k| k.contains("e2e") || k.starts_with("amqp_")),
            "no annotations from the source may be carried over: {ann:?}"
        );
    }

    // Ctrl-C drains and exits 0.
    let code = pipeline.interrupt(Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "pipeline exit code after SIGINT; log:\n{}",
        pipeline.log_text()
    );
}
