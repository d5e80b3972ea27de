//! The inspector's raw material on the REAL local stack: what the workers
//! put in `Arrival.detail` equals what the brokers carried, as clients we
//! did not write (Python qpid-proton, kcat) see it; the injector's
//! `Inject` (content type, application properties, annotations, payload)
//! really is on the wire; and `stream.yaml` (`meta = deleted()`) strips it.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use streamprobe::envelope::Probe;
use streamprobe::event::{
    Arrival, BodyOptions, Detail, Event, Inject, Link, Proto, SendRequest, TimestampType,
};
use streamprobe::links::{self, Dest, DestKind, Plan, Role, Workers};

const T: Duration = Duration::from_secs(60);

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

fn amqp_dest(address: &str) -> Dest {
    Dest {
        name: format!("amqp:{address}"),
        role: Role::Primary,
        kind: DestKind::Amqp {
            endpoint: guest(),
            address: address.into(),
        },
    }
}

fn plan(source: &str, dests: Vec<Dest>) -> Plan {
    Plan {
        source: links::Source::Amqp {
            endpoint: guest(),
            address: source.into(),
        },
        dests,
    }
}

fn inject() -> Inject {
    Inject {
        content_type: "text/plain".into(),
        properties: vec![("tenant".into(), "acme".into())],
        annotations: vec![("x-opt-a".into(), "1".into())],
        payload: Some(serde_json::json!({"order": 7})),
    }
}

fn request(run: &str, seqs: std::ops::Range<u64>) -> SendRequest {
    SendRequest {
        inject: Arc::new(inject()),
        ..SendRequest::unpaced(run, seqs)
    }
}

/// Waits until every link in `links` reported Up (or, for Kafka, Waiting:
/// the topic does not exist yet; it is read from the moment it appears).
async fn wait_ready(w: &mut Workers, links: &[Link]) {
    let mut ready = std::collections::HashSet::new();
    wait_for(w, &format!("links {links:?} ready"), T, |e| {
        if let Event::Up { link } | Event::Waiting { link, .. } = e {
            ready.insert(format!("{link:?}"));
        }
        links.iter().all(|l| ready.contains(&format!("{l:?}")))
    })
    .await;
}

/// Collects `n` arrivals at destination `dest`.
async fn arrivals(w: &mut Workers, dest: usize, n: usize) -> Vec<Arrival> {
    let mut got = Vec::new();
    wait_for(w, &format!("{n} arrivals at dest {dest}"), T, |e| {
        if let Event::Arrived(a) = e
            && a.dest == dest
        {
            got.push(a.clone());
        }
        got.len() >= n
    })
    .await;
    got
}

fn detail(a: &Arrival) -> &Detail {
    a.detail
        .as_deref()
        .expect("every arrival carries its detail")
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn stop(w: Workers) {
    w.cancel.cancel();
    for t in w.tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_detail_shows_what_the_injector_set_and_proton_agrees() {
    require_stack();
    let queue = unique("inspect_q");
    let topic = unique("inspect_t");
    // The publisher's source and the AMQP destination are the same queue:
    // the consumer reads exactly what the publisher sent.
    let mut w = links::spawn(
        &plan(&queue, vec![kafka_dest(&topic), amqp_dest(&queue)]),
        BodyOptions::default(),
    );
    wait_ready(&mut w, &[Link::Injector, Link::Dest(0), Link::Dest(1)]).await;
    w.requests
        .send(request("inspect1", 0..1))
        .await
        .expect("publisher running");
    let got = arrivals(&mut w, 1, 1).await;
    stop(w).await;

    let a = &got[0];
    assert_eq!(a.probe, Some(("inspect1".to_owned(), 0)));
    let d = detail(a);
    let p = Probe::decode(&d.body).expect("the kept body is the probe");
    assert_eq!(
        p.payload,
        Some(serde_json::json!({"order": 7})),
        "the inject payload is the probe's payload"
    );
    assert_eq!(d.body.len(), a.size);
    let Proto::Amqp {
        body_section,
        properties,
        application_properties,
        annotations,
        ..
    } = &d.proto
    else {
        panic!("AMQP arrival with Kafka detail: {:?}", d.proto)
    };
    assert_eq!(body_section, "data");
    assert_eq!(lookup(properties, "content-type"), Some("text/plain"));
    assert_eq!(
        application_properties,
        &[("tenant".to_owned(), "acme".to_owned())],
        "application properties"
    );
    assert_eq!(
        lookup(annotations, "x-opt-a"),
        Some("1"),
        "annotations: {annotations:?}"
    );

    // A second probe from the same injector, read by qpid-proton.
    let mut w = links::spawn(&plan(&queue, vec![]), BodyOptions::default());
    wait_ready(&mut w, &[Link::Injector]).await;
    w.requests
        .send(request("inspect1", 1..2))
        .await
        .expect("publisher running");
    wait_for(&mut w, "probe 1 confirmed", T, |e| {
        matches!(e, Event::Confirmed { seq: 1, .. })
    })
    .await;
    stop(w).await;
    let msgs = proton_drain(&queue, 1, Duration::from_millis(500), T);
    assert_eq!(msgs.len(), 1, "qpid-proton reads the second probe");
    let m = &msgs[0];
    assert_eq!(m.body_type, "data");
    assert_eq!(
        Probe::decode(&m.body()).map(|p| (p.seq, p.payload)),
        Some((1, Some(serde_json::json!({"order": 7}))))
    );
    assert_eq!(m.content_type.as_deref(), Some("text/plain"));
    assert_eq!(m.properties, serde_json::json!({"tenant": "acme"}));
    assert_eq!(m.annotations["x-opt-a"], serde_json::json!("1"));
    // proton and our consumer list the same annotations
    let ours: BTreeMap<String, String> = annotations.iter().cloned().collect();
    let theirs: BTreeMap<String, String> = m
        .annotations
        .as_object()
        .expect("annotations map")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), str::to_owned)))
        .collect();
    assert_eq!(ours, theirs, "annotations (ours vs qpid-proton)");
}

/// Every record of `topic`, as kcat's JSON (`-J`) shows it.
fn kcat_json(topic: &str) -> Vec<serde_json::Value> {
    let out = Command::new("kcat")
        .args([
            "-C",
            "-b",
            KAFKA,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-J",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run kcat");
    assert!(out.status.success(), "kcat -C -J failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("kcat JSON {l:?}: {e}")))
        .collect()
}

/// Produces `lines` to `topic` with kcat and extra arguments.
fn kcat_produce_with(topic: &str, args: &[&str], lines: &str) {
    use std::io::Write;
    let mut c = Command::new("kcat")
        .args(["-P", "-b", KAFKA, "-t", topic])
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run kcat");
    c.stdin
        .take()
        .expect("kcat stdin")
        .write_all(lines.as_bytes())
        .expect("write to kcat");
    assert!(c.wait().expect("kcat").success(), "kcat produce failed");
}

fn bytes(v: &serde_json::Value) -> Option<Vec<u8>> {
    v.as_str().map(|s| s.as_bytes().to_vec())
}

/// The Kafka details of `got` (sorted by partition and offset) equal
/// kcat's view of every record in `topic`; returns them in that order.
fn assert_kcat_agrees<'a>(got: &'a [Arrival], topic: &str) -> Vec<&'a Detail> {
    let truth = kcat_json(topic);
    assert_eq!(truth.len(), got.len(), "kcat: {truth:?}");
    let mut got: Vec<&Detail> = got.iter().map(detail).collect();
    got.sort_by_key(|d| match &d.proto {
        Proto::Kafka {
            partition, offset, ..
        } => (*partition, *offset),
        _ => (-1, -1),
    });
    for (d, k) in got.iter().zip(&truth) {
        let Proto::Kafka {
            topic: t,
            partition,
            offset,
            key,
            headers,
            timestamp,
        } = &d.proto
        else {
            panic!("Kafka arrival with AMQP detail: {:?}", d.proto)
        };
        assert_eq!(t, topic);
        assert_eq!(Some(*partition as i64), k["partition"].as_i64(), "{k}");
        assert_eq!(Some(*offset), k["offset"].as_i64(), "{k}");
        assert_eq!(key, &bytes(&k["key"]), "key (null vs empty) of {k}");
        let want: Vec<(String, Option<Vec<u8>>)> = k["headers"]
            .as_array()
            .map(|h| {
                h.chunks(2)
                    .map(|kv| (kv[0].as_str().unwrap_or_default().to_owned(), bytes(&kv[1])))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(headers, &want, "headers of {k}");
        let want_ts = match k["tstype"].as_str() {
            Some("create") => k["ts"].as_i64().map(|t| (t, TimestampType::CreateTime)),
            Some("logappend") => k["ts"].as_i64().map(|t| (t, TimestampType::LogAppendTime)),
            _ => None,
        };
        assert_eq!(timestamp, &want_ts, "timestamp of {k}");
        assert_eq!(Some(d.body.clone()), bytes(&k["payload"]), "body of {k}");
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_detail_equals_what_kcat_reports() {
    require_stack();
    let queue = unique("inspect_kq");
    let topic = unique("inspect_kt");
    // a second topic whose broker stamps LogAppendTime, with 2 partitions
    let stamped = unique("inspect_kla");
    create_topic(&stamped, 2, "message.timestamp.type=LogAppendTime");
    let mut w = links::spawn(
        &plan(&queue, vec![kafka_dest(&topic), kafka_dest(&stamped)]),
        BodyOptions::default(),
    );
    wait_ready(&mut w, &[Link::Dest(0), Link::Dest(1)]).await;
    // a key, an empty key (`:` first), then no key; headers with a value,
    // an empty value and a null value (`-H hn`, no `=`)
    kcat_produce_with(
        &topic,
        &["-K", ":", "-H", "h1=a", "-H", "he=", "-H", "hn"],
        "k1:v1\n:v2\n",
    );
    kcat_produce_with(&topic, &[], "v3\n");
    kcat_produce_with(&stamped, &["-p", "1", "-K", ":"], "s:stamped\n");
    let (mut got, mut got_stamped) = (Vec::new(), Vec::new());
    wait_for(&mut w, "3 + 1 arrivals", T, |e| {
        if let Event::Arrived(a) = e {
            match a.dest {
                0 => got.push(a.clone()),
                _ => got_stamped.push(a.clone()),
            }
        }
        got.len() >= 3 && !got_stamped.is_empty()
    })
    .await;
    stop(w).await;
    let d = assert_kcat_agrees(&got_stamped, &stamped);
    assert!(
        matches!(
            d[0].proto,
            Proto::Kafka {
                partition: 1,
                timestamp: Some((_, TimestampType::LogAppendTime)),
                ..
            }
        ),
        "{:?}",
        d[0].proto
    );

    let got = assert_kcat_agrees(&got, &topic);
    assert!(
        got.iter().all(|d| matches!(
            d.proto,
            Proto::Kafka {
                timestamp: Some((_, TimestampType::CreateTime)),
                ..
            }
        )),
        "kcat's producer sets CreateTime"
    );
    // what kcat says, spelled out: the distinctions the inspector shows
    let keys: Vec<_> = got
        .iter()
        .map(|d| match &d.proto {
            Proto::Kafka { key, .. } => key.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(keys, [Some(b"k1".to_vec()), Some(vec![]), None]);
    let Proto::Kafka { headers, .. } = &got[0].proto else {
        unreachable!()
    };
    assert_eq!(
        headers,
        &[
            ("h1".to_owned(), Some(b"a".to_vec())),
            ("he".to_owned(), Some(vec![])),
            ("hn".to_owned(), None)
        ]
    );
}

/// Runs `streamprobe pipeline FILE` (stream.yaml's shape) from a unique
/// source to a unique topic and queue, injects `N` probes with
/// [`inject`] and returns the arrivals at Kafka and at AMQP.
async fn through_pipeline(file: &std::path::Path, n: u64) -> (String, Vec<Arrival>, Vec<Arrival>) {
    let source = unique("inspect_src");
    let dest = unique("inspect_foo");
    // destination 0 = Kafka, 1 = AMQP; attaching the AMQP consumer
    // declares the target queue before the pipeline routes to it
    let mut w = links::spawn(
        &plan(&source, vec![kafka_dest(&dest), amqp_dest(&dest)]),
        BodyOptions::default(),
    );
    wait_ready(&mut w, &[Link::Injector, Link::Dest(0), Link::Dest(1)]).await;
    let pipeline = Pipeline::start(
        file,
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &dest),
            ("TARGET_ADDRESS", &dest),
        ],
    );
    w.requests
        .send(request("inspect3", 0..n))
        .await
        .expect("publisher running");
    let mut kafka = Vec::new();
    let mut amqp = Vec::new();
    wait_for(&mut w, "every probe at both destinations", T, |e| {
        if let Event::Arrived(a) = e {
            match a.dest {
                0 => kafka.push(a.clone()),
                _ => amqp.push(a.clone()),
            }
        }
        kafka.len() as u64 >= n && amqp.len() as u64 >= n
    })
    .await;
    stop(w).await;
    drop(pipeline);
    for a in kafka.iter().chain(&amqp) {
        assert!(a.probe.is_some(), "a probe: {}", a.preview);
        assert_eq!(
            Probe::decode(&detail(a).body).and_then(|p| p.payload),
            Some(serde_json::json!({"order": 7})),
            "the body (and its payload) is carried over"
        );
    }
    (dest, kafka, amqp)
}

fn kafka_headers(a: &Arrival) -> &[(String, Option<Vec<u8>>)] {
    match &detail(a).proto {
        Proto::Kafka { headers, .. } => headers,
        other => panic!("Kafka arrival with AMQP detail: {other:?}"),
    }
}

/// Text pairs of one AMQP section.
type Pairs = [(String, String)];

/// (application properties, annotations, properties) of an AMQP arrival.
fn amqp_sections(a: &Arrival) -> (&Pairs, &Pairs, &Pairs) {
    match &detail(a).proto {
        Proto::Amqp {
            application_properties,
            annotations,
            properties,
            ..
        } => (application_properties, annotations, properties),
        other => panic!("AMQP arrival with Kafka detail: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_yaml_strips_the_injected_metadata_at_both_destinations() {
    require_stack();
    const N: u64 = 20;
    let (topic, kafka, amqp) = through_pipeline(&root().join("stream.yaml"), N).await;
    for a in &amqp {
        let (app, annotations, properties) = amqp_sections(a);
        assert!(
            app.is_empty(),
            "no application properties after meta = deleted(): {app:?}"
        );
        assert!(
            lookup(annotations, "x-opt-a").is_none() && lookup(annotations, "tenant").is_none(),
            "no injected annotation after meta = deleted(): {annotations:?}"
        );
        assert_ne!(
            lookup(properties, "content-type"),
            Some("text/plain"),
            "the content type is not carried over"
        );
    }
    for a in &kafka {
        let headers = kafka_headers(a);
        assert!(
            headers.is_empty(),
            "no Kafka headers after meta = deleted(): {headers:?}"
        );
    }
    // kcat agrees: the topic holds the probes, none with a header
    let recs = kcat_json(&topic);
    assert_eq!(recs.len() as u64, N, "kcat: the topic holds the probes");
    for r in &recs {
        assert!(r.get("headers").is_none(), "kcat sees headers: {r}");
    }

    // Control: the same stream WITHOUT its `meta = deleted()` mapping
    // carries the injected metadata over as Bento does (the annotation
    // and the content type become metadata: Kafka headers, AMQP
    // annotations; application properties never do), so the checks above
    // can fail and the probes did carry the metadata.
    let text = std::fs::read_to_string(root().join("stream.yaml")).expect("read stream.yaml");
    let (head, rest) = text
        .split_once("\npipeline:")
        .expect("stream.yaml has a pipeline");
    let (_, output) = rest
        .split_once("\noutput:")
        .expect("stream.yaml has an output");
    let keep = std::env::temp_dir().join(format!("{}.yaml", unique("inspect_keep_meta")));
    std::fs::write(&keep, format!("{head}\noutput:{output}")).expect("write the control stream");
    let (_, kafka, amqp) = through_pipeline(&keep, N).await;
    let _ = std::fs::remove_file(&keep);
    for a in &kafka {
        let h = kafka_headers(a);
        for (k, v) in [("x_opt_a", "1"), ("amqp_content_type", "text/plain")] {
            assert!(
                h.contains(&(k.to_owned(), Some(v.as_bytes().to_vec()))),
                "without the mapping the Kafka record has header {k}={v}: {h:?}"
            );
        }
    }
    for a in &amqp {
        let (_, annotations, _) = amqp_sections(a);
        assert_eq!(
            lookup(annotations, "x_opt_a"),
            Some("1"),
            "without the mapping the AMQP message keeps the annotation: {annotations:?}"
        );
    }
}
