//! Shared helpers of the end-to-end tests. They need the REAL local stack
//! (RabbitMQ with AMQP 1.0 on 127.0.0.1:5672, Kafka on 127.0.0.1:9092),
//! started by the README's test command (`scripts/test.sh`). Without it they
//! FAIL with a message saying so; they never skip.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const AMQP: &str = "127.0.0.1:5672";
pub const KAFKA: &str = "127.0.0.1:9092";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Panics (fails the test) unless both brokers accept TCP connections.
pub fn require_stack() {
    for (name, addr) in [("RabbitMQ (AMQP 1.0)", AMQP), ("Kafka", KAFKA)] {
        let ok = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)).is_ok();
        assert!(
            ok,
            "{name} is not reachable on {addr}: start the local stack with `scripts/stack.sh up` (the README's test command `scripts/test.sh` does it)"
        );
    }
}

/// A name unique to this test run: `<prefix>_<pid>_<random>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{:06x}",
        std::process::id(),
        fastrand::u32(..0xff_ffff)
    )
}

/// A running `streamprobe pipeline`; interrupted (SIGINT) and reaped on drop.
pub struct Pipeline {
    pub child: Child,
    pub log: PathBuf,
}

impl Pipeline {
    /// Starts `streamprobe pipeline <file>` with extra environment `env`,
    /// logging to a temp file, and waits until its input link is connected.
    pub fn start(file: &Path, env: &[(&str, &str)]) -> Pipeline {
        let log = std::env::temp_dir().join(format!("{}.log", unique("pipeline")));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamprobe"));
        cmd.arg("pipeline")
            .arg(file)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        cmd.env("NO_COLOR", "1").env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn streamprobe pipeline");
        let p = Pipeline { child, log };
        p.wait_for_log("input connected", Duration::from_secs(30));
        p
    }

    /// The pipeline's log so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until the log contains `needle` (panics with the log after `timeout`).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log_text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "pipeline log never showed {needle:?} within {timeout:?}:\n{}",
            self.log_text()
        );
    }

    /// Sends SIGINT (Ctrl-C) and waits up to `timeout` for the exit code.
    pub fn interrupt(&mut self, timeout: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("pipeline log kept: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// One Kafka record as kcat printed it.
#[derive(Debug, Clone)]
pub struct KcatRecord {
    /// kcat's `%h`: `key=value` pairs, comma-separated; empty when none.
    pub headers: String,
    pub body: Vec<u8>,
}

/// Every record of `topic` from the beginning, read with kcat (a client we
/// did not write). Bodies must not contain the byte 0x1e.
pub fn kcat_all(topic: &str) -> Vec<KcatRecord> {
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
            "-f",
            "%h\x1f%s\x1e",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run kcat (install it: apt-get install kcat; scripts/test.sh does)");
    if !out.status.success() {
        // the topic may not exist yet
        return Vec::new();
    }
    out.stdout
        .split(|b| *b == 0x1e)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let sep = r
                .iter()
                .position(|b| *b == 0x1f)
                .expect("kcat record separator");
            KcatRecord {
                headers: String::from_utf8_lossy(&r[..sep]).into_owned(),
                body: r[sep + 1..].to_vec(),
            }
        })
        .collect()
}

/// Records in `topic` (the local stack's topics have one partition): its end
/// offset by `kcat -Q`, 0 when the topic does not exist yet or Kafka is down.
pub fn kafka_end_offset(topic: &str) -> u64 {
    let out = Command::new("kcat")
        .args(["-b", KAFKA, "-m", "5", "-Q", "-t", &format!("{topic}:0:-1")])
        .stdin(Stdio::null())
        .output()
        .expect("run kcat");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Polls kcat until `topic` holds at least `n` records or `timeout` passes.
pub fn kcat_wait(topic: &str, n: usize, timeout: Duration) -> Vec<KcatRecord> {
    let start = Instant::now();
    loop {
        let recs = kcat_all(topic);
        if recs.len() >= n || start.elapsed() > timeout {
            return recs;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// One AMQP message as the Python qpid-proton client (not our code) saw it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ProtonMessage {
    pub body_type: String,
    /// Body bytes, hex-encoded.
    pub body_hex: String,
    pub content_type: Option<String>,
    pub properties: serde_json::Value,
    pub annotations: serde_json::Value,
}

impl ProtonMessage {
    pub fn body(&self) -> Vec<u8> {
        (0..self.body_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&self.body_hex[i..i + 2], 16).unwrap())
            .collect()
    }
}

/// Receives (and accepts) messages from AMQP address `address` with Python
/// qpid-proton until `n` arrived and then `quiet` passed with no more, or
/// `timeout` passed.
pub fn proton_drain(
    address: &str,
    n: usize,
    quiet: Duration,
    timeout: Duration,
) -> Vec<ProtonMessage> {
    proton_drain_at(
        &format!("amqp://guest:guest@{AMQP}"),
        &[],
        address,
        n,
        quiet,
        timeout,
    )
}

/// [`proton_drain`] from `url` (e.g. `amqps://...` with `extra` =
/// `["--ca", FILE]`).
pub fn proton_drain_at(
    url: &str,
    extra: &[&str],
    address: &str,
    n: usize,
    quiet: Duration,
    timeout: Duration,
) -> Vec<ProtonMessage> {
    let out = Command::new("/usr/bin/python3")
        .arg(root().join("tests/support/amqp_drain.py"))
        .args(extra)
        .args([
            "--url", url,
            "--address", address,
            "--count", &n.to_string(),
            "--quiet", &quiet.as_secs_f64().to_string(),
            "--timeout", &timeout.as_secs_f64().to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run /usr/bin/python3 tests/support/amqp_drain.py (needs python3-qpid-proton; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "amqp_drain.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("bad line from amqp_drain.py: {e}: {l}"))
        })
        .collect()
}

/// Starts `tests/fixtures/mirror.yaml` (source → Kafka topic + AMQP target
/// + AMQP mirror) with these names; returns once its input is connected.
pub fn mirror_pipeline(source: &str, topic: &str, target: &str, mirror: &str) -> Pipeline {
    Pipeline::start(
        &root().join("tests/fixtures/mirror.yaml"),
        &[
            ("SOURCE_ADDRESS", source),
            ("KAFKA_TOPIC", topic),
            ("TARGET_ADDRESS", target),
            ("MIRROR_ADDRESS", mirror),
        ],
    )
}

/// `streamprobe probe --json ARGS` with extra environment `env`: its exit,
/// its JSON report (panics with stderr when it printed none) and how long it
/// took.
pub fn probe_json<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    env: &[(&str, &str)],
) -> (std::process::Output, serde_json::Value, Duration) {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .args(["probe", "--json"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run streamprobe probe");
    let took = t0.elapsed();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "probe printed no JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json, took)
}

/// Asserts that every destination of probe report `r` received `received`
/// probes and lost none.
pub fn assert_all_received(r: &serde_json::Value, received: u64) {
    for d in r["destinations"].as_array().expect("destinations") {
        assert_eq!(
            (d["received"].as_u64(), d["lost"].as_u64()),
            (Some(received), Some(0)),
            "{d:#}"
        );
    }
}

/// The client certificate and key files of the stack
/// (`scripts/stack.sh tls-client`).
pub fn stack_client_cert() -> (PathBuf, PathBuf) {
    let out = Command::new("bash")
        .arg(root().join("scripts/stack.sh"))
        .arg("tls-client")
        .output()
        .expect("run scripts/stack.sh tls-client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = String::from_utf8(out.stdout).unwrap();
    let (cert, key) = files.trim().split_once(' ').expect("cert and key");
    (PathBuf::from(cert), PathBuf::from(key))
}

/// Runs `scripts/stack.sh <verb>` and asserts it succeeded.
pub fn stack(verb: &str) {
    let st = Command::new("bash")
        .arg(root().join("scripts/stack.sh"))
        .arg(verb)
        .status()
        .expect("run scripts/stack.sh");
    assert!(st.success(), "scripts/stack.sh {verb} failed");
}

/// The local RabbitMQ as guest/guest.
pub fn guest() -> streamprobe::amqp::AmqpEndpoint {
    streamprobe::amqp::AmqpEndpoint {
        url: format!("amqp://{AMQP}"),
        user: "guest".into(),
        password: "guest".into(),
        ..Default::default()
    }
}

/// A session and sender link to `address` on the local RabbitMQ as guest.
async fn test_sender(address: &str) -> (streamprobe::amqp::AmqpSession, fe2o3_amqp::Sender) {
    streamprobe::amqp::connect(&guest(), "test-injector")
        .await
        .expect("connect")
        .with_sender("test-injector", address)
        .await
        .expect("attach")
}

/// Sends each body to `address` (one Data section each, one at a time) and
/// returns the broker's outcomes.
pub async fn amqp_send(
    address: &str,
    bodies: impl IntoIterator<Item = String>,
) -> Vec<fe2o3_amqp::types::messaging::Outcome> {
    use streamprobe::amqp;
    let (s, mut sender) = test_sender(address).await;
    let mut outcomes = Vec::new();
    for b in bodies {
        outcomes.push(
            sender
                .send(amqp::probe_message(b.into_bytes()))
                .await
                .expect("send"),
        );
    }
    let _ = sender.close().await;
    s.close().await;
    outcomes
}

/// Sends each body to `address` with up to 256 unsettled at a time and
/// asserts the broker accepted every one.
pub async fn amqp_send_pipelined(address: &str, bodies: impl IntoIterator<Item = String>) {
    use fe2o3_amqp::types::messaging::Outcome;
    use streamprobe::amqp;
    let (s, mut sender) = test_sender(address).await;
    type Settled = Result<Outcome, fe2o3_amqp::link::SendError>;
    let mut pending: std::collections::VecDeque<fe2o3_amqp::link::delivery::DeliveryFut<Settled>> =
        Default::default();
    for b in bodies {
        if pending.len() >= 256 {
            let outcome = pending.pop_front().unwrap().await.expect("settlement");
            assert!(outcome.is_accepted(), "broker settled with {outcome:?}");
        }
        pending.push_back(
            sender
                .send_batchable(amqp::probe_message(b.into_bytes()))
                .await
                .expect("send"),
        );
    }
    for fut in pending {
        let outcome = fut.await.expect("settlement");
        assert!(outcome.is_accepted(), "broker settled with {outcome:?}");
    }
    let _ = sender.close().await;
    s.close().await;
}

/// Declares durable quorum queues (`scripts/stack.sh queue NAME...`); address
/// them as `/amq/queue/NAME` on RabbitMQ 3.10.
pub fn durable_queues(names: &[&str]) {
    let st = Command::new("bash")
        .arg(root().join("scripts/stack.sh"))
        .arg("queue")
        .args(names)
        .status()
        .expect("run scripts/stack.sh queue");
    assert!(st.success(), "scripts/stack.sh queue {names:?} failed");
}

/// Messages (ready + unacknowledged) in `queue`, by rabbitmqctl.
pub fn queue_messages(queue: &str) -> Option<u64> {
    let out = Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "name", "messages"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .find(|(name, _)| *name == queue)
        .and_then(|(_, n)| n.trim().parse().ok())
}

/// Writes `lines` (one record per line) to `topic` with kcat.
pub fn kcat_produce(topic: &str, lines: &str) {
    use std::io::Write;
    let mut c = Command::new("kcat")
        .args(["-P", "-b", KAFKA, "-t", topic])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run kcat");
    c.stdin.take().unwrap().write_all(lines.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success(), "kcat produce failed");
}

/// Receives events until `pred` holds for one of them; fails after `timeout`
/// with the events seen.
pub async fn wait_for(
    w: &mut streamprobe::links::Workers,
    what: &str,
    timeout: Duration,
    mut pred: impl FnMut(&streamprobe::event::Event) -> bool,
) {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < timeout {
        match tokio::time::timeout(Duration::from_millis(200), w.events.recv()).await {
            Ok(Some(ev)) => {
                if pred(&ev) {
                    return;
                }
                seen.push(format!("{ev:?}"));
            }
            Ok(None) => break,
            Err(_) => {}
        }
    }
    let tail: Vec<_> = seen.iter().rev().take(15).collect();
    panic!("never saw {what} within {timeout:?}; last events: {tail:#?}");
}

/// Creates `topic` with Kafka's own TopicCommand (scripts/kafka-tool.sh).
pub fn create_topic(topic: &str, partitions: u32, config: &str) {
    let out = Command::new("bash")
        .arg(root().join("scripts/kafka-tool.sh"))
        .args([
            "org.apache.kafka.tools.TopicCommand",
            "--bootstrap-server",
            "127.0.0.1:9092",
        ])
        .args([
            "--create",
            "--topic",
            topic,
            "--partitions",
            &partitions.to_string(),
        ])
        .args(["--config", config])
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/kafka-tool.sh");
    assert!(
        out.status.success(),
        "TopicCommand --create {topic} failed (Kafka jars from scripts/stack.sh up, or STREAMPROBE_STACK_DIR): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// qpid-proton receivers held open (amqp_hold.py); killed on drop.
pub struct Held(Child);

impl Held {
    /// Attaches one receiver per `(address, credit)` (credit 0 = never any).
    pub fn attach(links: &[(&str, u32)]) -> Held {
        let mut c = Command::new("/usr/bin/python3");
        c.arg(root().join("tests/support/amqp_hold.py")).args([
            "--url",
            "amqp://guest:guest@127.0.0.1:5672",
            "--seconds",
            "120",
        ]);
        for (a, credit) in links {
            c.args(["--link", &format!("{a}={credit}")]);
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("run tests/support/amqp_hold.py (python3-qpid-proton)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok);
        assert_eq!(
            first.as_deref(),
            Some("attached"),
            "amqp_hold.py did not attach"
        );
        // keep reading its output so it never blocks on a full pipe
        std::thread::spawn(move || for _ in lines {});
        Held(child)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The stack's CA file (`scripts/stack.sh tls-ca`).
pub fn stack_ca() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("scripts/stack.sh"))
        .arg("tls-ca")
        .output()
        .expect("run scripts/stack.sh tls-ca");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Writes a config file with profile `remote` for the stack's secured
/// listeners (AMQPS :5671, Kafka SASL_SSL :9094 with the password from a
/// command) and the given names; returns its path (for STREAMPROBE_CONFIG).
pub fn secured_profile(source: &str, target: &str, topic: &str) -> PathBuf {
    let ca = stack_ca();
    let file = std::env::temp_dir().join(format!("{}.toml", unique("profile")));
    std::fs::write(
        &file,
        format!(
            "[profiles.remote]\namqp-url = \"amqps://localhost:5671\"\namqp-ca = \"{ca}\"\n\
             kafka-brokers = \"localhost:9094\"\nkafka-user = \"probe\"\n\
             kafka-password-cmd = \"printf probe-secret\"\nkafka-sasl-mechanism = \"SCRAM-SHA-256\"\n\
             kafka-ca = \"{ca}\"\nsource = \"{source}\"\namqp-target = \"{target}\"\nkafka-topic = \"{topic}\"\n",
            ca = ca.display()
        ),
    )
    .unwrap();
    file
}
