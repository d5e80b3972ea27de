//! End to end on the REAL stack: the broker view (src/broker/) against
//! ground truth from tools we did not write. Queues are declared, bound and
//! filled through RabbitMQ's own management API with curl, receivers held
//! by Python qpid-proton, and our figures compared with `rabbitmqctl
//! list_queues` / `list_consumers`; routes compared with where RabbitMQ
//! really put the messages; Kafka offsets with `kcat -Q`, group lag with
//! Kafka's own ConsumerGroupCommand after `kcat -G` consumed part.
//! Without the stack (RabbitMQ with its management API, Kafka) they FAIL.

mod common;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use streamprobe::amqp::AmqpEndpoint;
use streamprobe::broker::{self, BrokerSnapshot, DestBrokerView, Poller, Route};
use streamprobe::links::{Dest, DestKind, Plan, Role};

const API: &str = "http://127.0.0.1:15672";

/// Fails unless both brokers and RabbitMQ's management API answer.
fn require_api() {
    require_stack();
    let ok =
        TcpStream::connect_timeout(&"127.0.0.1:15672".parse().unwrap(), Duration::from_secs(2))
            .is_ok();
    assert!(
        ok,
        "RabbitMQ's management API is not reachable on 127.0.0.1:15672: start the local stack with `scripts/stack.sh up` (it enables rabbitmq_management)"
    );
}

/// A management API call with curl as guest: (HTTP status, body).
fn mgmt(method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "-u",
        "guest:guest",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ]);
    if let Some(b) = body {
        c.args(["-H", "content-type: application/json", "-d", &b.to_string()]);
    }
    let out = c.arg(format!("{API}{path}")).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn declare(queue: &str) {
    let (st, b) = mgmt(
        "PUT",
        &format!("/api/queues/%2F/{queue}"),
        Some(serde_json::json!({"durable": false, "auto_delete": false})),
    );
    assert!(st == 201 || st == 204, "declare {queue}: HTTP {st} {b}");
}

fn delete(queue: &str) {
    let _ = mgmt("DELETE", &format!("/api/queues/%2F/{queue}"), None);
}

fn bind(exchange: &str, queue: &str, key: &str) {
    let (st, b) = mgmt(
        "POST",
        &format!("/api/bindings/%2F/e/{exchange}/q/{queue}"),
        Some(serde_json::json!({"routing_key": key, "arguments": {}})),
    );
    assert_eq!(st, 201, "bind {queue} to {exchange} with {key:?}: {b}");
}

/// Publishes one message through the API; RabbitMQ answers whether it was
/// routed to a queue.
fn publish(exchange: &str, key: &str) -> bool {
    let (st, b) = mgmt(
        "POST",
        &format!("/api/exchanges/%2F/{exchange}/publish"),
        Some(serde_json::json!({
            "properties": {}, "routing_key": key,
            "payload": "bv", "payload_encoding": "string"
        })),
    );
    assert_eq!(st, 200, "publish to {exchange}: {b}");
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    v["routed"].as_bool().expect("routed")
}

/// `rabbitmqctl list_queues name messages_ready messages_unacknowledged consumers`.
fn rabbitmqctl_queues() -> BTreeMap<String, (u64, u64, u64)> {
    let out = Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_queues",
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ])
        .output()
        .expect("run rabbitmqctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f.get(i)?.trim().parse().ok();
            Some((f.first()?.to_string(), (n(1)?, n(2)?, n(3)?)))
        })
        .collect()
}

/// `rabbitmqctl list_consumers queue_name ack_required prefetch_count` of `queue`.
fn rabbitmqctl_consumers(queue: &str) -> Vec<(bool, u64)> {
    let out = Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_consumers",
            "queue_name",
            "ack_required",
            "prefetch_count",
        ])
        .output()
        .expect("run rabbitmqctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.first() == Some(&queue)).then(|| (f[1] == "true", f[2].trim().parse().unwrap()))
        })
        .collect()
}

fn guest_at(url: &str) -> AmqpEndpoint {
    AmqpEndpoint {
        url: url.into(),
        user: "guest".into(),
        password: "guest".into(),
        ..Default::default()
    }
}

fn amqp_dest(address: &str) -> Dest {
    Dest {
        name: format!("amqp:{address}"),
        role: Role::Primary,
        kind: DestKind::Amqp {
            endpoint: guest_at(&format!("amqp://{AMQP}")),
            address: address.into(),
        },
    }
}

fn kafka_dest(topic: &str) -> Dest {
    Dest {
        name: format!("kafka:{topic}"),
        role: Role::Primary,
        kind: DestKind::Kafka {
            kafka: streamprobe::kafka::KafkaEndpoint::plain(KAFKA),
            topic: topic.into(),
        },
    }
}

fn poller(source: &str, dests: Vec<Dest>, api: &str) -> Poller {
    let plan = Plan {
        source: streamprobe::links::Source::Amqp {
            endpoint: guest_at(&format!("amqp://{AMQP}")),
            address: source.into(),
        },
        dests,
    };
    Poller::new(broker::Config::new(&plan, api))
}

/// (ready, unacked, consumers) of every queue the snapshot shows.
/// (messages ready, unacknowledged, consumers), as RabbitMQ reported them.
type Figures = (Option<u64>, Option<u64>, Option<u64>);

fn our_queues(s: &BrokerSnapshot) -> BTreeMap<String, Figures> {
    let mut views = vec![s.source.as_ref().expect("source view")];
    for d in s.dests.iter().flatten() {
        if let DestBrokerView::Amqp(a) = d {
            views.push(a);
        }
    }
    views
        .into_iter()
        .flat_map(|v| &v.queues)
        .map(|q| {
            (
                q.name.clone(),
                (q.messages_ready, q.messages_unacknowledged, q.consumers),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_figures_and_consumers_equal_rabbitmqctl() {
    require_api();
    let (ready, unacked, zero) = (unique("bv_ready"), unique("bv_unacked"), unique("bv_zero"));
    for q in [&ready, &unacked, &zero] {
        declare(q);
    }
    for (q, n) in [(&ready, 7), (&unacked, 5), (&zero, 3)] {
        for _ in 0..n {
            assert!(publish("amq.default", q));
        }
    }
    // one receiver granting 100 credit (takes all 5, settles none), one
    // granting none (the 3 stay ready)
    let held = Held::attach(&[(&unacked, 100), (&format!("/amq/queue/{zero}"), 0)]);
    let mut p = poller(
        &ready,
        vec![
            amqp_dest(&unacked),
            amqp_dest(&format!("/amq/queue/{zero}")),
        ],
        API,
    );
    // (ready, unacknowledged, consumers)
    let want: BTreeMap<String, (u64, u64, u64)> = [
        (ready.clone(), (7, 0, 0)),
        (unacked.clone(), (0, 5, 1)),
        (zero.clone(), (3, 0, 1)),
    ]
    .into_iter()
    .collect();
    let start = Instant::now();
    let (snap, truth) = loop {
        let s = p.poll().await;
        let truth: BTreeMap<_, _> = rabbitmqctl_queues()
            .into_iter()
            .filter(|(k, _)| want.contains_key(k))
            .collect();
        let ours: BTreeMap<String, (u64, u64, u64)> = our_queues(&s)
            .into_iter()
            .filter_map(|(k, (r, u, c))| Some((k, (r?, u?, c?))))
            .collect();
        if truth == want && ours == truth {
            break (s, truth);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ours {ours:?} != rabbitmqctl {truth:?} (want {want:?}); snapshot: {s:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(truth.len(), 3);
    let src = snap.source.as_ref().unwrap();
    assert_eq!(src.route.queues(), std::slice::from_ref(&ready));
    // consumers: what rabbitmqctl lists, and the AMQP 1.0 shape (no credit)
    for (i, q) in [(0, &unacked), (1, &zero)] {
        let Some(DestBrokerView::Amqp(v)) = &snap.dests[i] else {
            panic!("AMQP view of {q} expected")
        };
        let qv = &v.queues[0];
        let ours: Vec<(bool, u64)> = qv
            .consumer_details
            .iter()
            .map(|c| (c.ack_required.unwrap(), c.prefetch_count.unwrap()))
            .collect();
        assert_eq!(ours, rabbitmqctl_consumers(q), "{q}");
        let c = &qv.consumer_details[0];
        assert_eq!((c.x_credit, c.active), (Some(0), Some(true)), "{q}");
        assert!(
            c.connection
                .as_deref()
                .unwrap()
                .contains("-> 127.0.0.1:5672")
        );
        assert!(c.channel.is_some());
    }
    // the credit-less consumer: ready messages, nothing delivered, time grows
    let start = Instant::now();
    loop {
        let s = p.poll().await;
        let q = |i: usize| match &s.dests[i] {
            Some(DestBrokerView::Amqp(v)) => v.queues[0].clone(),
            other => panic!("{other:?}"),
        };
        let (u, z) = (q(0), q(1));
        assert_eq!(u.undelivered_for_s, None, "nothing ready on {unacked}");
        assert_eq!(u.totals.deliver_get, Some(5));
        // consumer_capacity is RabbitMQ's moving average: it falls in seconds
        if z.stalled(Duration::from_secs(3)) && z.consumer_capacity.unwrap() < 0.2 {
            assert_eq!(z.totals.deliver_get, None);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{z:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(held);
    for q in [&ready, &unacked, &zero] {
        delete(q);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_are_where_rabbitmq_puts_the_messages() {
    require_api();
    // unroutable: RabbitMQ says routed=false, we say "routes to no queue"
    assert!(
        !publish("amq.direct", "nowhere"),
        "someone bound amq.direct/nowhere"
    );
    let mut p = poller("/exchange/amq.direct/nowhere", vec![], API);
    let s = p.poll().await;
    let src = s.source.as_ref().unwrap_or_else(|| panic!("{s:?}"));
    let Route::NoQueue { exchange, key, .. } = &src.route else {
        panic!("no queue expected: {:?}", src.route)
    };
    assert_eq!(
        (exchange.as_str(), key.as_deref()),
        ("amq.direct", Some("nowhere"))
    );

    // a topic exchange of our own with one queue per pattern: publish one
    // message per key, then each queue must hold as many messages as keys
    // our route sends to it (counted by rabbitmqctl)
    let x = unique("bv_x");
    let (st, b) = mgmt(
        "PUT",
        &format!("/api/exchanges/%2F/{x}"),
        Some(serde_json::json!({"type": "topic", "durable": false})),
    );
    assert!(st == 201 || st == 204, "{b}");
    let patterns = ["a.*", "a.#", "#", "*.b.#", "a.b", "#.c", "*"];
    let queues: Vec<String> = (0..patterns.len()).map(|i| format!("{x}_q{i}")).collect();
    for (q, pat) in queues.iter().zip(patterns) {
        declare(q);
        bind(&x, q, pat);
    }
    let keys = ["a", "a.b", "a.b.c", "x.b.c", "c", "x.y", "b"];
    let mut predicted: BTreeMap<String, u64> = queues.iter().map(|q| (q.clone(), 0)).collect();
    for k in keys {
        let s = poller(&format!("/exchange/{x}/{k}"), vec![], API)
            .poll()
            .await;
        let route = &s.source.as_ref().unwrap().route;
        for q in route.queues() {
            *predicted.get_mut(q).unwrap() += 1;
        }
        assert_eq!(
            publish(&x, k),
            !route.queues().is_empty(),
            "key {k}: {route:?}"
        );
    }
    // `/topic/K` is amq.topic
    let s = poller("/topic/a.b", vec![], API).poll().await;
    assert!(
        matches!(&s.source.as_ref().unwrap().route, Route::NoQueue { exchange, .. } | Route::Queues { exchange, .. } if exchange == "amq.topic")
    );
    let start = Instant::now();
    loop {
        let truth = rabbitmqctl_queues();
        let counted: BTreeMap<String, u64> = queues
            .iter()
            .map(|q| (q.clone(), truth.get(q).map_or(u64::MAX, |t| t.0)))
            .collect();
        if counted == predicted {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "rabbitmqctl {counted:?} != predicted {predicted:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        predicted.values().any(|&n| n > 1) && predicted.values().any(|&n| n < keys.len() as u64)
    );
    for q in &queues {
        delete(q);
    }
    let _ = mgmt("DELETE", &format!("/api/exchanges/%2F/{x}"), None);
}

/// Kafka's own ConsumerGroupCommand `--describe`: partition → (current
/// offset, log end offset, lag) of `group` on `topic`.
fn describe_group(group: &str, topic: &str) -> BTreeMap<i32, (i64, i64, i64)> {
    let out = Command::new("bash")
        .arg(root().join("scripts/kafka-tool.sh"))
        .args([
            "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
            "--bootstrap-server",
            KAFKA,
            "--describe",
            "--group",
            group,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/kafka-tool.sh");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || f[0] != group || f[1] != topic {
                return None;
            }
            Some((
                f[2].parse().ok()?,
                (f[3].parse().ok()?, f[4].parse().ok()?, f[5].parse().ok()?),
            ))
        })
        .collect()
}

/// End offset of one partition by `kcat -Q` (-1 = the end).
fn kcat_end(topic: &str, partition: i32) -> i64 {
    let out = Command::new("kcat")
        .args(["-b", KAFKA, "-Q", "-t", &format!("{topic}:{partition}:-1")])
        .output()
        .expect("run kcat");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("kcat -Q {topic}:{partition}: {text}"))
}

fn kcat_produce_to(topic: &str, partition: i32, n: usize) {
    use std::io::Write;
    let mut c = Command::new("kcat")
        .args(["-P", "-b", KAFKA, "-t", topic, "-p", &partition.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run kcat");
    let lines: String = (0..n).map(|i| format!("r{i}\n")).collect();
    c.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "kcat -P failed");
}

fn kafka_view(s: &BrokerSnapshot, i: usize) -> streamprobe::broker::TopicView {
    match &s.dests[i] {
        Some(DestBrokerView::Kafka(t)) => t.clone(),
        other => panic!("Kafka view expected: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_offsets_growth_and_group_lag_equal_kcat_and_kafka_tools() {
    require_api();
    let topic = unique("bv_t");
    let out = Command::new("bash")
        .arg(root().join("scripts/kafka-tool.sh"))
        .args([
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            KAFKA,
        ])
        .args(["--create", "--topic", &topic, "--partitions", "3"])
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/kafka-tool.sh");
    assert!(
        out.status.success(),
        "TopicCommand: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    kcat_produce_to(&topic, 0, 5);
    kcat_produce_to(&topic, 1, 3);
    let absent = unique("bv_absent");
    let mut p = poller(
        "EXTERNAL",
        vec![kafka_dest(&topic), kafka_dest(&absent)],
        API,
    );
    let s1 = p.poll().await;
    let t = kafka_view(&s1, 0);
    assert_eq!(t.exists, Some(true), "{t:?}");
    let ends: Vec<(i32, i64)> = t.partitions.iter().map(|p| (p.partition, p.high)).collect();
    let truth: Vec<(i32, i64)> = (0..3).map(|p| (p, kcat_end(&topic, p))).collect();
    assert_eq!(ends, truth);
    assert_eq!(truth, [(0, 5), (1, 3), (2, 0)]);
    assert!(t.partitions.iter().all(|p| p.low == 0));
    assert_eq!(t.growth, None);
    // the broker auto-creates topics, but asking for metadata must not
    assert_eq!(kafka_view(&s1, 1).exists, Some(false));
    assert!(t.groups.is_empty(), "{:?}", t.groups);

    kcat_produce_to(&topic, 2, 4);
    let s2 = p.poll().await;
    let t = kafka_view(&s2, 0);
    assert_eq!(t.growth, Some(4));
    assert_eq!(
        t.partitions.iter().map(|p| p.growth).collect::<Vec<_>>(),
        [Some(0), Some(0), Some(4)]
    );
    assert!(t.growth_per_s.unwrap() > 0.0);
    assert_eq!(t.end_offset_total(), 12);

    // a group consumes 6 of the 12 records with kcat's balanced consumer
    let group = unique("bv_g");
    let out = Command::new("kcat")
        .args([
            "-b",
            KAFKA,
            "-G",
            &group,
            "-X",
            "auto.offset.reset=earliest",
        ])
        .args(["-c", "6", "-q", &topic])
        .stdin(Stdio::null())
        .output()
        .expect("run kcat -G");
    assert!(
        out.status.success(),
        "kcat -G: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
    let truth = describe_group(&group, &topic);
    let start = Instant::now();
    let g = loop {
        let t = kafka_view(&p.poll().await, 0);
        if let Some(g) = t.groups.iter().find(|g| g.group == group) {
            break g.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "group {group} not seen: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let ours: BTreeMap<i32, (i64, i64, i64)> = g
        .partitions
        .iter()
        .filter_map(|gp| {
            Some((
                gp.partition,
                (gp.committed?, gp.committed? + gp.lag?, gp.lag?),
            ))
        })
        .collect();
    assert_eq!(ours, truth, "ours {g:?}");
    assert_eq!(
        g.partitions.iter().filter_map(|p| p.committed).sum::<i64>(),
        6
    );
    // partitions the group never committed on have no lag (as the tool's `-`)
    assert_eq!(g.lag, truth.values().map(|t| t.2).sum::<i64>());
    assert_eq!(
        g.partitions
            .iter()
            .filter(|p| p.committed.is_none())
            .count(),
        3 - truth.len()
    );
    assert_eq!((g.members, g.state.as_str()), (0, "Empty"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_api_the_snapshot_says_why_and_kafka_goes_on() {
    require_api();
    let topic = unique("bv_off");
    let s = poller(
        "EXTERNAL",
        vec![kafka_dest(&topic), amqp_dest("FOO")],
        "http://127.0.0.1:1",
    )
    .poll()
    .await;
    assert_eq!(
        s.rabbitmq_off.as_deref(),
        Some("broker view off: http://127.0.0.1:1 refused the connection")
    );
    assert!(s.source.is_none() && s.dests[1].is_none());
    assert_eq!(kafka_view(&s, 0).exists, Some(false));
    assert_eq!(kafka_view(&s, 0).error, None);

    // a wrong password: said, never shown
    let plan = Plan {
        source: streamprobe::links::Source::Amqp {
            endpoint: AmqpEndpoint {
                url: format!("amqp://{AMQP}"),
                user: "guest".into(),
                password: "wrong-pw-9f3".into(),
                ..Default::default()
            },
            address: "EXTERNAL".into(),
        },
        dests: vec![],
    };
    let s = Poller::new(broker::Config::new(&plan, API)).poll().await;
    let off = s.rabbitmq_off.unwrap();
    assert_eq!(
        off,
        "broker view off: http://127.0.0.1:15672 did not accept the login of user \"guest\" (HTTP 401)"
    );
    // `off`
    let s = poller("EXTERNAL", vec![], "off").poll().await;
    assert_eq!(
        s.rabbitmq_off.as_deref(),
        Some("broker view off: --rabbitmq-api off")
    );
}
