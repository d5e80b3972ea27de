//! End to end on the REAL stack's secured listeners (scripts/stack.sh):
//! Kafka SASL_SSL with SCRAM-SHA-256 on 127.0.0.1:9094 (user `probe`,
//! password `probe-secret`, the stack's throw-away CA). The probe reads the
//! Kafka destination over SASL_SSL while `streamprobe pipeline` writes it
//! over PLAINTEXT (the same broker, another listener); Kafka's own
//! ConsoleConsumer, over SASL_SSL too, is the ground truth. Wrong password,
//! wrong CA and TLS-to-plaintext mistakes exit 2 as `refused` within
//! seconds, naming the endpoint and librdkafka's cause, never the password.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SASL: &str = "127.0.0.1:9094";
const PASSWORD: &str = "probe-secret";

/// The stack's CA file (`scripts/stack.sh tls-ca`).
fn ca() -> PathBuf {
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

/// `streamprobe probe --json` with `args`; its exit, JSON and the time it took.
fn probe(args: &[&str]) -> (Output, Value, Duration) {
    let t0 = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("probe")
        .arg("--json")
        .args(args)
        .output()
        .expect("run streamprobe probe");
    let took = t0.elapsed();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "probe printed no JSON ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, json, took)
}

/// The SASL_SSL flags for the stack's listener, with `password`.
fn sasl_flags(ca: &str, password: &str) -> Vec<String> {
    [
        "--kafka-brokers",
        SASL,
        "--kafka-user",
        "probe",
        "--kafka-password",
        password,
        "--kafka-sasl-mechanism",
        "SCRAM-SHA-256",
        "--kafka-ca",
        ca,
    ]
    .map(String::from)
    .to_vec()
}

/// Probe bodies of `run` in `topic`, read by Kafka's ConsoleConsumer over
/// SASL_SSL (not librdkafka: Debian's kcat links librdkafka 2.0, whose
/// SCRAM Kafka 4 refuses; fixed in librdkafka 2.6.1).
fn console_consumer_seqs(topic: &str, run: &str) -> Vec<u64> {
    let props = std::env::temp_dir().join(format!("{}.properties", unique("sasl")));
    std::fs::write(
        &props,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"probe\" password=\"{PASSWORD}\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location={}\n",
            ca().display()
        ),
    )
    .unwrap();
    let out = Command::new("bash")
        .arg(root().join("scripts/kafka-tool.sh"))
        .args([
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            "--bootstrap-server",
            SASL,
            "--consumer.config",
        ])
        .arg(&props)
        .args(["--topic", topic, "--from-beginning", "--timeout-ms", "8000"])
        .output()
        .expect("run ConsoleConsumer");
    let _ = std::fs::remove_file(&props);
    let mut seqs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| streamprobe::envelope::Probe::decode(l.as_bytes()))
        .filter(|p| p.run == run)
        .map(|p| p.seq)
        .collect();
    seqs.sort_unstable();
    seqs
}

fn kafka_dest(r: &Value) -> &Value {
    r["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"].as_str().is_some_and(|n| n.starts_with("kafka:")))
        .unwrap_or_else(|| panic!("no Kafka destination in {r}"))
}

#[test]
fn probe_reads_kafka_over_sasl_ssl_and_matches_the_console_consumer() {
    require_stack();
    let (source, topic, target) = (unique("sec_src"), unique("sec_t"), unique("sec_q"));
    let mut p = Pipeline::start(
        &root().join("tests/fixtures/mirror.yaml"),
        &[
            ("SOURCE_ADDRESS", &source),
            ("KAFKA_TOPIC", &topic),
            ("TARGET_ADDRESS", &target),
            ("MIRROR_ADDRESS", &unique("sec_m")),
        ],
    );
    p.wait_for_log("input connected", Duration::from_secs(20));
    let ca = ca();
    let mut args: Vec<String> = [
        "--source",
        &source,
        "--kafka-topic",
        &topic,
        "--amqp-target",
        &target,
        "--count",
        "200",
    ]
    .map(String::from)
    .to_vec();
    args.extend(sasl_flags(ca.to_str().unwrap(), PASSWORD));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, r, _) = probe(&args);
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    let k = kafka_dest(&r);
    assert_eq!(
        (k["received"].as_u64(), k["lost"].as_u64()),
        (Some(200), Some(0)),
        "{k:#}"
    );
    // the broker view read the topic over SASL_SSL too
    assert_eq!(k["broker"]["exists"], true, "{k:#}");
    let run = r["run_id"].as_str().unwrap();
    let seqs = console_consumer_seqs(&topic, run);
    assert_eq!(seqs, (0..200).collect::<Vec<u64>>());
    // the password appears nowhere
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "{all}");
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
}

/// Asserts a fast exit 2 of kind `refused` whose message holds `cause`,
/// and no `secret` anywhere in the output.
fn assert_refused(out: &Output, r: &Value, took: Duration, cause: &str, secret: &str) {
    assert_eq!(out.status.code(), Some(2), "{r:#}");
    assert_eq!(r["error"]["kind"], "refused", "{r:#}");
    let text = r["error"].to_string();
    assert!(text.contains(cause), "{cause:?} not in {text}");
    assert!(
        text.contains(SASL) || text.contains("127.0.0.1:9092"),
        "{text}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(secret), "{all}");
}

#[test]
fn a_wrong_kafka_password_is_refused_at_once_and_never_shown() {
    require_stack();
    let ca = ca();
    let mut args = sasl_flags(ca.to_str().unwrap(), "not-the-password");
    args.extend(["--count", "1", "--connect-timeout", "20"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, r, took) = probe(&args);
    assert_refused(
        &out,
        &r,
        took,
        "SASL authentication error",
        "not-the-password",
    );
}

#[test]
fn a_ca_that_did_not_sign_the_broker_is_refused_at_once() {
    require_stack();
    // another throw-away CA, made here with openssl
    let dir = std::env::temp_dir().join(unique("otherca"));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=not the stack's CA", "-keyout"])
        .arg(dir.join("ca.key"))
        .arg("-out")
        .arg(dir.join("ca.pem"))
        .output()
        .expect("run openssl")
        .status
        .success();
    assert!(ok, "openssl req failed");
    let other = dir.join("ca.pem");
    let mut args = sasl_flags(other.to_str().unwrap(), PASSWORD);
    args.extend(["--count", "1", "--connect-timeout", "20"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, r, took) = probe(&args);
    assert_refused(&out, &r, took, "certificate verify failed", PASSWORD);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_to_a_plaintext_listener_is_refused_and_bad_properties_are_config_errors() {
    require_stack();
    let ca = ca();
    let (out, r, took) = probe(&[
        "--kafka-security-protocol",
        "SSL",
        "--kafka-ca",
        ca.to_str().unwrap(),
        "--count",
        "1",
        "--connect-timeout",
        "20",
    ]);
    assert_refused(&out, &r, took, "PLAINTEXT broker listener", PASSWORD);

    // librdkafka refuses an unknown property before any connection
    let (out, r, took) = probe(&["--kafka-property", "no.such.property=1", "--count", "1"]);
    assert_eq!(out.status.code(), Some(2), "{r:#}");
    assert_eq!(r["error"]["kind"], "config", "{r:#}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no.such.property"),
        "{r:#}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    // --kafka-ca must name a readable file
    let (out, r, _) = probe(&["--kafka-ca", "/nonexistent/ca.pem", "--count", "1"]);
    assert_eq!(out.status.code(), Some(2), "{r:#}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--kafka-ca /nonexistent/ca.pem"),
        "{r:#}"
    );
}
