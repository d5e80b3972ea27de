//! Bento's HTTP face of `streamprobe pipeline` on the REAL stack, read with
//! curl (a client we did not write): `/metrics` counts exactly the 1,000
//! messages sent (input_received, output_sent per output) and agrees with
//! kcat and a qpid-proton consumer; `/ready` turns 503 within 2 s of Kafka
//! stopping, naming the Kafka output, and 200 again once it is back.
//!
//! Its own test binary: it stops Kafka, which must not disturb other tests.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const N: u64 = 1000;

/// `curl` GET: (HTTP status, body).
fn get(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "2", "-w", "\n%{http_code}", url])
        .output()
        .expect("run curl (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The value of the series `name{...path="<path>"...}` in Prometheus text.
fn series(text: &str, name: &str, path: &str) -> u64 {
    let want = format!("path=\"{path}\"");
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(&want))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {name} series for {path} in:\n{text}"))
}

/// Starts Kafka again when dropped, also when the test fails while it is
/// stopped, so later test binaries find the stack whole.
struct KafkaBack;

impl Drop for KafkaBack {
    fn drop(&mut self) {
        let ok = Command::new("bash")
            .arg(root().join("scripts/stack.sh"))
            .arg("start-kafka")
            .status()
            .is_ok_and(|s| s.success());
        if !ok && !std::thread::panicking() {
            panic!("scripts/stack.sh start-kafka failed");
        }
    }
}

const OUTPUTS: [&str; 3] = [
    "root.output",
    "root.output.broker.outputs.0",
    "root.output.broker.outputs.1",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_message_and_ready_follows_kafka() {
    require_stack();
    let source = unique("http_src");
    let dest = unique("http_foo");
    let _ = proton_drain(&dest, 0, Duration::from_millis(100), Duration::from_secs(5));
    let mut pipeline = Pipeline::start(
        &root().join("stream.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &dest),
            ("TARGET_ADDRESS", &dest),
            ("STREAMPROBE_HTTP_ADDRESS", "127.0.0.1:0"),
        ],
    );
    pipeline.wait_for_log(
        "serving /ping /ready /metrics on http://",
        Duration::from_secs(5),
    );
    let log = pipeline.log_text();
    let base = log
        .split("serving /ping /ready /metrics on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("the bound address in the log")
        .to_owned();

    assert_eq!(get(&format!("{base}/ping")), (200, "pong".to_owned()));
    let ready = |timeout: Duration, want: u16| {
        let start = Instant::now();
        loop {
            let (code, body) = get(&format!("{base}/ready"));
            if code == want {
                return (start.elapsed(), body);
            }
            assert!(
                start.elapsed() < timeout,
                "/ready stayed {code} (want {want}) for {timeout:?}: {body}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    ready(Duration::from_secs(20), 200);

    let before = get(&format!("{base}/metrics")).1;
    let received0 = series(&before, "input_received", "root.input");
    let sent0: Vec<u64> = OUTPUTS
        .iter()
        .map(|p| series(&before, "output_sent", p))
        .collect();
    assert!(
        before.contains("# TYPE output_latency_ns histogram"),
        "{before}"
    );

    amqp_send_pipelined(&source, (0..N).map(|i| format!("m{i}"))).await;
    let recs = kcat_wait(&dest, N as usize, Duration::from_secs(60));
    let msgs = proton_drain(
        &dest,
        N as usize,
        Duration::from_secs(2),
        Duration::from_secs(60),
    );
    assert_eq!(
        (recs.len() as u64, msgs.len() as u64),
        (N, N),
        "kcat / proton counts"
    );
    // The last confirmation is counted once the output's completion ran.
    let start = Instant::now();
    let after = loop {
        let text = get(&format!("{base}/metrics")).1;
        let done = OUTPUTS
            .iter()
            .zip(&sent0)
            .all(|(p, s0)| series(&text, "output_sent", p) >= s0 + N);
        if done || start.elapsed() > Duration::from_secs(10) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        series(&after, "input_received", "root.input") - received0,
        N,
        "{after}"
    );
    for (p, s0) in OUTPUTS.iter().zip(&sent0) {
        assert_eq!(
            series(&after, "output_sent", p) - s0,
            N,
            "output_sent of {p}:\n{after}"
        );
        assert_eq!(series(&after, "output_error", p), 0, "output_error of {p}");
    }
    assert_eq!(
        series(&after, "processor_sent", "root.pipeline.processors.0"),
        N,
        "{after}"
    );
    assert_eq!(
        series(
            &after,
            "output_latency_ns_count",
            "root.output.broker.outputs.0"
        ),
        N
    );
    assert_eq!(kafka_end_offset(&dest), N, "Kafka's own end offset");

    // Kafka down: /ready says so within 2 s and names the Kafka output.
    stack("stop-kafka");
    let back = KafkaBack;
    let stopped = Instant::now();
    let (_, body) = ready(Duration::from_secs(10), 503);
    let took = stopped.elapsed();
    drop(back);
    assert!(
        took <= Duration::from_secs(2),
        "/ready turned 503 only after {took:?}"
    );
    assert!(
        body.contains("output not connected: kafka ")
            && body.contains("root.output.broker.outputs.0"),
        "{body}"
    );
    assert!(!body.contains("amqp_1"), "only Kafka is down: {body}");
    // Back: ready again.
    let (_, body) = ready(Duration::from_secs(60), 200);
    assert_eq!(body, "OK");
    let text = get(&format!("{base}/metrics")).1;
    assert!(
        series(
            &text,
            "output_connection_lost",
            "root.output.broker.outputs.0"
        ) >= 1,
        "{text}"
    );
    assert!(
        series(
            &text,
            "output_connection_up",
            "root.output.broker.outputs.0"
        ) >= 2,
        "{text}"
    );
    assert_eq!(pipeline.interrupt(Duration::from_secs(20)), Some(0));
}
