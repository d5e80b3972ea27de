//! Real stack: the runner's `kafka` input moves every record of a topic to
//! an AMQP address (qpid-proton counts them) and commits its consumer
//! group's offsets, so a restarted pipeline sends nothing twice; Kafka's own
//! ConsumerGroupCommand confirms the committed offset.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn kafka_input_delivers_each_record_and_commits() {
    require_stack();
    let (topic, group, target) = (unique("ki_t"), unique("ki_g"), unique("ki_q"));
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    let lines: String = (0..100).map(|i| format!("record {i}\n")).collect();
    kcat_produce(&topic, &lines);
    let env = [
        ("KAFKA_TOPIC", topic.as_str()),
        ("GROUP", group.as_str()),
        ("TARGET_ADDRESS", target.as_str()),
    ];

    let mut p = Pipeline::start(&root().join("tests/fixtures/kafka_in.yaml"), &env);
    let msgs = proton_drain(
        &target,
        100,
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    assert_eq!(msgs.len(), 100, "log:\n{}", p.log_text());
    let mut bodies: Vec<String> = msgs
        .iter()
        .map(|m| String::from_utf8(m.body()).unwrap())
        .collect();
    bodies.sort();
    let mut want: Vec<String> = (0..100).map(|i| format!("record {i}")).collect();
    want.sort();
    assert_eq!(bodies, want);
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));

    // Kafka's own tool: the group committed offset 100 on the partition.
    let out = Command::new("bash")
        .arg(root().join("scripts/kafka-tool.sh"))
        .args([
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server",
            KAFKA,
            "--describe",
            "--group",
            &group,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text
        .lines()
        .find(|l| l.contains(&topic))
        .unwrap_or_else(|| panic!("no row for {topic}: {text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    assert_eq!((cols[3], cols[4], cols[5]), ("100", "100", "0"), "{row}");

    // A restart delivers nothing again.
    let mut p2 = Pipeline::start(&root().join("tests/fixtures/kafka_in.yaml"), &env);
    let again = proton_drain(&target, 0, Duration::from_secs(4), Duration::from_secs(6));
    assert_eq!(
        again.len(),
        0,
        "nothing is delivered twice after a clean stop"
    );
    assert_eq!(p2.interrupt(Duration::from_secs(30)), Some(0));
}
