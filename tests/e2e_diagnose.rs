//! End to end on the REAL stack: each diagnosis made to happen, with
//! ground truth from rabbitmqctl and RabbitMQ's management API (tools we
//! did not write), and shown in `probe --json`'s `problems` and broker
//! objects.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use serde_json::Value;

fn probe(args: &[&str]) -> (Output, Value) {
    let (out, r, _) = probe_json(args, &[]);
    (out, r)
}

/// `probe` injecting `count` probes into the queue `source` (by
/// `/amq/queue/`), watching unique destinations, with `loss_timeout`.
fn probe_queue(source: &str, count: &str, loss_timeout: &str) -> (Output, Value) {
    probe(&[
        "--source",
        &format!("/amq/queue/{source}"),
        "--kafka-topic",
        &unique("dg_t"),
        "--amqp-target",
        &unique("dg_q"),
        "--count",
        count,
        "--loss-timeout",
        loss_timeout,
    ])
}

/// Two of `queue`'s figures as `rabbitmqctl list_queues` prints them.
/// `probe` on `/amq/queue/<source>` → Kafka `topic` and AMQP `target`,
/// with `extra` flags, on a blocking thread (the test goes on meanwhile).
fn probe_in_background(
    source: &str,
    topic: &str,
    target: &str,
    extra: &[&str],
) -> tokio::task::JoinHandle<(Output, Value)> {
    let mut args: Vec<String> = [
        "--source".to_owned(),
        format!("/amq/queue/{source}"),
        "--kafka-topic".to_owned(),
        topic.to_owned(),
        "--amqp-target".to_owned(),
        target.to_owned(),
    ]
    .into();
    args.extend(extra.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || probe(&args.iter().map(String::as_str).collect::<Vec<_>>()))
}

fn rabbitmqctl_queue(queue: &str, a: &str, b: &str) -> (u64, u64) {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name", a, b])
        .output()
        .expect("rabbitmqctl");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&queue))
        .unwrap_or_else(|| panic!("rabbitmqctl lists no {queue}: {text}"));
    (f[1].trim().parse().unwrap(), f[2].trim().parse().unwrap())
}

fn problems(r: &Value) -> Vec<String> {
    r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

fn dest<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {r}"))
}

/// Whether a problem contains `needle`; when none does, the source's
/// broker view is printed (what the diagnosis was made from).
fn has(r: &Value, needle: &str) -> bool {
    let found = problems(r).iter().any(|p| p.contains(needle));
    if !found {
        eprintln!("source: {:#}", r["source"]);
    }
    found
}

/// The management API's JSON for `path` (ground truth beside rabbitmqctl).
fn api(path: &str) -> Value {
    let out = Command::new("curl")
        .args(["-sf", "-u", "guest:guest"])
        .arg(format!("http://127.0.0.1:15672/api/{path}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Declares durable quorum `queue` and waits until the management API
/// reports its figures (RabbitMQ emits a new queue's statistics only after
/// a few seconds; a deployment's queue has long had them).
fn queue_with_figures(queue: &str) {
    durable_queues(&[queue]);
    let t0 = std::time::Instant::now();
    while api(&format!("queues/%2F/{queue}"))["consumers"]
        .as_u64()
        .is_none()
    {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no statistics for {queue}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_source_that_routes_to_no_queue_is_named() {
    require_stack();
    let (topic, target) = (unique("dg_t"), unique("dg_q"));
    let key = unique("nowhere");
    let source = format!("/exchange/amq.direct/{key}");
    let (out, r) = probe(&[
        "--source",
        &source,
        "--kafka-topic",
        &topic,
        "--amqp-target",
        &target,
        "--count",
        "5",
        "--loss-timeout",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    // RabbitMQ 3.x accepts what it cannot route: confirmed, then gone
    assert_eq!(r["confirmed"], 5, "{r:#}");
    assert_eq!(r["source"]["broker"]["route"]["kind"], "no_queue", "{r:#}");
    assert!(has(&r, "routes to no queue"), "{:#?}", problems(&r));
    // ground truth: amq.direct has no binding with that key
    let bindings = api("exchanges/%2F/amq.direct/bindings/source");
    assert!(
        bindings
            .as_array()
            .expect("management API answers")
            .iter()
            .all(|b| b["routing_key"] != key.as_str()),
        "{bindings}"
    );
}

#[test]
fn a_backlog_without_a_consumer_says_the_stream_is_not_running() {
    require_stack();
    let source = unique("dg_src");
    // the source queue exists (declared durable like a deployment's) but
    // nothing consumes it: no pipeline runs
    queue_with_figures(&source);
    // RabbitMQ's figures lag the messages by a statistics interval or two
    let (out, r) = probe_queue(&source, "20", "8s");
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(
        has(
            &r,
            &format!("queue {source} holds 20 ready messages and has no consumer")
        ),
        "{:#?}",
        problems(&r)
    );
    let q = &r["source"]["broker"]["queues"][0];
    assert_eq!(
        (q["messages_ready"].as_u64(), q["consumers"].as_u64()),
        (Some(20), Some(0)),
        "{q}"
    );
    // ground truth: rabbitmqctl counts the same 20
    assert_eq!(queue_messages(&source), Some(20));
}

#[test]
fn a_consumer_with_zero_credit_is_a_stalled_engine() {
    require_stack();
    let source = unique("dg_src");
    queue_with_figures(&source);
    // an AMQP 1.0 receiver (qpid-proton) attached with no credit: what a
    // stalled stream engine looks like from the broker
    let held = Held::attach(&[(&format!("/amq/queue/{source}"), 0)]);
    // ready messages show after a statistics interval or two; stalled is
    // said after 3 s of them not moving
    let (out, r) = probe_queue(&source, "10", "12s");
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(
        has(
            &r,
            &format!("queue {source} holds 10 ready messages and its 1 consumer took none")
        ),
        "{:#?}",
        problems(&r)
    );
    assert!(
        has(&r, "the stream engine has stalled"),
        "{:#?}",
        problems(&r)
    );
    // ground truth: rabbitmqctl sees the 10 still there with 1 consumer
    assert_eq!(
        rabbitmqctl_queue(&source, "messages_ready", "consumers"),
        (10, 1)
    );
    drop(held);
}

#[test]
fn a_missing_topic_and_a_refused_queue_are_said_in_one_line() {
    require_stack();
    let (source, topic, target) = (unique("dg_src"), unique("dg_t"), unique("dg_qq"));
    let delivered_to = unique("dg_q");
    // the AMQP destination exists as a durable quorum queue: a bare-name
    // attach is refused (RabbitMQ 3.x declares it non-durable)
    durable_queues(&[&target]);
    let mirror = root().join("tests/fixtures/mirror.yaml");
    let mut pipeline = Pipeline::start(
        &mirror,
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &unique("dg_other")),
            ("TARGET_ADDRESS", &delivered_to),
            ("MIRROR_ADDRESS", &unique("dg_m")),
        ],
    );
    let (out, r) = probe(&[
        "--source",
        &source,
        "--kafka-topic",
        &topic,
        "--amqp-target",
        &target,
        "--count",
        "5",
        "--connect-timeout",
        "6s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = &r["error"];
    let link = e["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["link"] == format!("amqp:{target}").as_str())
        .unwrap_or_else(|| panic!("{e:#}"));
    let msg = link["error"].as_str().unwrap();
    assert!(
        msg.contains("PRECONDITION_FAILED - inequivalent arg 'durable'")
            && msg.contains(&format!("/amq/queue/{target}"))
            && !msg.contains("RemoteEndedWithError"),
        "{msg}"
    );
    // the Kafka topic nobody writes: the probe waits for it, then says so
    let (out, r) = probe(&[
        "--source",
        &source,
        "--kafka-topic",
        &topic,
        "--amqp-target",
        &delivered_to,
        "--count",
        "5",
        "--loss-timeout",
        "3s",
    ]);
    assert_eq!(
        dest(&r, &format!("amqp:{delivered_to}"))["received"],
        5,
        "{r:#}"
    );
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(
        has(
            &r,
            &format!(
                "kafka:{topic}: topic {topic:?} does not exist yet: nothing was produced to it"
            )
        ),
        "{:#?}",
        problems(&r)
    );
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_stuck_behind_one_message_is_found_from_the_source() {
    require_stack();
    let (source, topic, target) = (unique("dg_src"), unique("dg_t"), unique("dg_q"));
    queue_with_figures(&source);
    let _ = proton_drain(
        &target,
        0,
        Duration::from_millis(100),
        Duration::from_secs(5),
    );
    // stall.yaml: the Kafka output refuses anything over 1,000 bytes and
    // retries it for ever, so the stream waits behind one big message
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/stall.yaml"),
        &[
            ("SOURCE_ADDRESS", &format!("/amq/queue/{source}")),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    amqp_send(&format!("/amq/queue/{source}"), ["x".repeat(5000)]).await;
    p.wait_for_log("output failed; retrying", Duration::from_secs(20));
    let (out, r) = probe_in_background(
        &source,
        &topic,
        &target,
        &["--count", "10", "--loss-timeout", "9s"],
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(
        has(
            &r,
            &format!(
                "the stream took them from /amq/queue/{source} and holds 11 unacknowledged without confirming"
            )
        ),
        "{:#?}",
        problems(&r)
    );
    assert!(
        has(
            &r,
            "the stream engine is stopped or hung, or waits on an output that does not confirm"
        ),
        "{:#?}",
        problems(&r)
    );
    // ground truth: rabbitmqctl sees the 10 probes and the big message
    // taken by the stream (its credit is 64) and not acknowledged
    assert_eq!(
        rabbitmqctl_queue(&source, "messages_ready", "messages_unacknowledged"),
        (0, 11)
    );
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
}

/// One destination stops while the other goes on: the topic starts
/// refusing every record (max.message.bytes=10, set with Kafka's own
/// ConfigCommand) under a stream that drops its Kafka output's failures
/// (drop_on error: true). The Kafka destination is said to have stopped at
/// its last seq, with the topic's end offset standing still (ground truth:
/// Kafka's GetOffsetShell), while the AMQP destination receives every probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_stopped_while_another_goes_on_is_located() {
    require_stack();
    let (source, topic, target) = (unique("dg_src"), unique("dg_t"), unique("dg_q"));
    queue_with_figures(&source);
    create_topic(&topic, 1, "cleanup.policy=delete");
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/drop_failed.yaml"),
        &[
            ("SOURCE_ADDRESS", &format!("/amq/queue/{source}")),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
        ],
    );
    let run = probe_in_background(
        &source,
        &topic,
        &target,
        &["--count", "40", "--rate", "5", "--loss-timeout", "4s"],
    );
    // after ~2.5 s of the 8 s run, the topic refuses everything
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let alter = Command::new("bash")
        .arg(root().join("scripts/kafka-tool.sh"))
        .args([
            "kafka.admin.ConfigCommand",
            "--bootstrap-server",
            "127.0.0.1:9092",
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            &topic,
            "--add-config",
            "max.message.bytes=10",
        ])
        .output()
        .unwrap();
    assert!(alter.status.success(), "{alter:?}");
    let (out, r) = run.await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    let kafka = dest(&r, &format!("kafka:{topic}"));
    let amqp = dest(&r, &format!("amqp:{target}"));
    assert_eq!(amqp["received"], 40, "{amqp:#}");
    let got = kafka["received"].as_u64().unwrap();
    assert!((1..40).contains(&got), "{kafka:#}");
    // ground truth: the topic holds exactly what the destination received
    assert_eq!(kafka_end_offset(&topic), got);
    let last = got - 1;
    for needle in [
        format!(", after seq {last}, while amqp:{target} received up to seq 39"),
        format!("topic {topic} has had no new record for "),
        format!("(end offset {got}): its output produces nothing there"),
    ] {
        assert!(has(&r, &needle), "{needle}: {:#?}", problems(&r));
    }
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
}

/// A stream that works, only slower than the probes are sent
/// (tests/fixtures/slow.yaml: about three messages a second): the probes
/// that miss the loss timeout are said to wait behind a slow stream, with
/// RabbitMQ's ack rate, not blamed on a hung engine. Ground truth: the
/// management API's ack rate of the source queue is above zero and
/// rabbitmqctl still counts messages waiting there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_slower_than_the_send_rate_is_said_so() {
    require_stack();
    let (source, topic, target) = (unique("dg_src"), unique("dg_t"), unique("dg_q"));
    queue_with_figures(&source);
    create_topic(&topic, 1, "max.message.bytes=10");
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/slow.yaml"),
        &[
            ("SOURCE_ADDRESS", &format!("/amq/queue/{source}")),
            ("KAFKA_TOPIC", &topic),
        ],
    );
    let (out, r) = probe_in_background(
        &source,
        &topic,
        &target,
        &["--count", "60", "--rate", "20", "--loss-timeout", "3s"],
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert!(
        has(&r, "the stream is slower than the send rate: it confirms"),
        "{:#?}",
        problems(&r)
    );
    assert!(
        has(
            &r,
            &format!("msg/s from /amq/queue/{source} (RabbitMQ's ack counter)")
        ),
        "{:#?}",
        problems(&r)
    );
    assert!(!has(&r, "hung"), "{:#?}", problems(&r));
    // ground truth: RabbitMQ sees the stream still acknowledging (its ack
    // counter grows), and messages still waiting
    let acks = || {
        api(&format!("queues/%2F/{source}"))["message_stats"]["ack"]
            .as_u64()
            .unwrap_or(0)
    };
    let (ready, unacked) = rabbitmqctl_queue(&source, "messages_ready", "messages_unacknowledged");
    let before = acks();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(acks() > before, "the ack counter stood still at {before}");
    assert!(ready + unacked > 0, "({ready}, {unacked})");
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
}

/// Another consumer on the AMQP destination's queue (a qpid-proton receiver
/// that never settles): RabbitMQ gives each message to one consumer, so the
/// probe misses what the other took, and says so instead of blaming the
/// stream's output. Ground truth: rabbitmqctl counts exactly the missed
/// probes unacknowledged at the other consumer.
#[test]
fn a_competing_consumer_on_a_destination_is_named() {
    require_stack();
    let (source, topic, target) = (unique("dg_src"), unique("dg_t"), unique("dg_q"));
    let mut p = mirror_pipeline(&source, &topic, &target, &unique("dg_m"));
    let other = Held::attach(&[(&target, 1000)]);
    let (out, r) = probe(&[
        "--source",
        &source,
        "--kafka-topic",
        &topic,
        "--amqp-target",
        &target,
        "--count",
        "20",
        "--loss-timeout",
        "3s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    let got = dest(&r, &format!("amqp:{target}"))["received"]
        .as_u64()
        .unwrap();
    assert!(got < 20, "{r:#}");
    assert_eq!(dest(&r, &format!("kafka:{topic}"))["received"], 20, "{r:#}");
    assert!(
        has(
            &r,
            &format!("amqp:{target}: 2 consumers share queue {target}: another consumer took")
        ),
        "{:#?}",
        problems(&r)
    );
    assert!(!has(&r, "this output is failing"), "{:#?}", problems(&r));
    // ground truth: the other consumer holds the rest, unacknowledged
    assert_eq!(
        rabbitmqctl_queue(&target, "messages_unacknowledged", "consumers"),
        (20 - got, 1)
    );
    drop(other);
    assert_eq!(p.interrupt(Duration::from_secs(20)), Some(0));
}
