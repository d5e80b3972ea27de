//! `streamprobe lint` on the seed README's shapes that Bento rejects, on
//! this repository's stream files, and on a broken file.

use std::path::Path;
use std::process::Command;

fn lint(files: &[&str]) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // mirror.yaml has variables without defaults on purpose
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("lint")
        .args(files.iter().map(|f| root.join(f)))
        .envs([
            ("SOURCE_ADDRESS", "s"),
            ("KAFKA_TOPIC", "t"),
            ("TARGET_ADDRESS", "q"),
            ("MIRROR_ADDRESS", "m"),
        ])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn our_stream_files_pass() {
    let (code, out) = lint(&[
        "stream.yaml",
        "scripts/bench/fanout.yaml",
        "tests/fixtures/mirror.yaml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": ok").count(), 3, "{out}");
}

#[test]
fn seed_shapes_get_located_hints() {
    let (code, out) = lint(&[
        "tests/fixtures/seed_fallback_map.yaml",
        "tests/fixtures/seed_recovery_stream.yaml",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("seed_fallback_map.yaml:4:3: `fallback` takes a LIST"),
        "{out}"
    );
    assert!(
        out.contains("seed_recovery_stream.yaml:8:9: `retry` has no `base_delay`/`max_delay`"),
        "{out}"
    );
    assert!(out.contains("initial_interval: 30s"), "{out}");
    assert!(
        out.contains("seed_recovery_stream.yaml:1:1: warning: a top-level `streams:` map"),
        "{out}"
    );
}

/// Runs `streamprobe <cmd> <file>` with extra environment; (exit code,
/// stdout + stderr).
fn run(cmd: &str, file: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg(cmd)
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// Runs `lint` and `pipeline` on `fixture` and asserts both exit with an
/// error (1 and 2) and list every one of `expect` (`line:col: message`
/// after the file name).
fn assert_all_reported(fixture: &str, expect: &[&str]) {
    let f = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture);
    for (cmd, sep, code) in [("lint", ":", 1), ("pipeline", ":", 2)] {
        let (status, text) = run(cmd, &f, &[]);
        assert_eq!(status, Some(code), "{cmd}: {text}");
        for e in expect {
            assert!(
                text.contains(&format!("{fixture}{sep}{e}")),
                "{cmd}: {e}\n{text}"
            );
        }
    }
}

#[test]
fn every_invalid_component_is_reported_with_its_place() {
    assert_all_reported(
        "broken_streams.yaml",
        &[
            "9:7: streams.bad1.input.amqp_1: missing field `source_address`",
            "15:9: streams.bad1.output.kafka.partitioner: unknown or unsupported value `nope`",
            "18:5: streams.bad2.outputs: unknown field `outputs`",
        ],
    );
}

#[test]
fn every_component_the_runner_rejects_is_reported_with_its_place() {
    assert_all_reported(
        "broken_semantics.yaml",
        &[
            "5:59: stream one: input.amqp_1.credit: must be at least 1",
            "8:11: stream one: pipeline.processors[0].mapping:",
            "10:11: stream one: pipeline.processors[2].mapping:",
            "14:40: stream one: output.broker.outputs[0].drop_on.error_patterns[0]:",
            "15:30: stream one: output.broker.outputs[1].retry.output.kafka: partitioner `manual`",
            "16:40: stream one: output.broker.outputs[2].amqp_1.target_address: must not be empty",
            "19:14: stream two: output.fallback:",
        ],
    );
}

#[test]
fn errors_carry_file_line_col() {
    let dir = std::env::temp_dir().join(format!("lint_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("broken.yaml");
    std::fs::write(&f, "input:\n  amqp_1:\n    urls: [amqp://x]\n    source_adress: X\noutput:\n  kafka: {addresses: [a], topic: b}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("lint")
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("broken.yaml:4:5:") && text.contains("source_adress"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tyk_references_resolve_as_tyk_resolves_them() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stream = root.join("tests/fixtures/api_config_stream.yaml");
    let run = |api: bool, secret: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_streamprobe"));
        c.arg("lint")
            .arg(&stream)
            .env_remove("STREAMPROBE_TEST_SECRET");
        if api {
            c.arg("--api-config")
                .arg(root.join("tests/fixtures/api_config.yaml"));
        }
        if secret {
            c.env("STREAMPROBE_TEST_SECRET", "guest");
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(true, true);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("api_config_stream.yaml:7:17: warning: `$api_config.…`"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2"),
        "resolved values are never printed: {out}"
    );
    let (code, out) = run(false, false);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "api_config_stream.yaml:7:17: $api_config.amqp_password needs --api-config FILE"
        ),
        "{out}"
    );
    assert!(
        out.contains("api_config_stream.yaml:8:13: $api_config.amqp_user"),
        "{out}"
    );
    // Tyk keeps `$secret_env.` as written in a broker-to-broker stream
    assert!(
        out.contains(
            "api_config_stream.yaml:16:53: warning: $secret_env.STREAMPROBE_TEST_SECRET stays as written: Tyk substitutes `$secret_env.` (from TYK_SECRET_STREAMPROBE_TEST_SECRET) only per request"
        ),
        "{out}"
    );
}

/// Every YAML example in the README passes `lint` (an output-only snippet is
/// checked inside a minimal stream with an amqp_1 input).
#[test]
fn readme_yaml_examples_pass_lint() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 2, "README has YAML examples");
    let dir = std::env::temp_dir().join(format!("readme_yaml_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, b) in blocks.iter().enumerate() {
        let text = if b.contains("input:") {
            b.to_string()
        } else {
            format!(
                "input:\n  amqp_1: {{urls: [amqp://localhost:5672], source_address: EXTERNAL}}\n{b}"
            )
        };
        let f = dir.join(format!("example{i}.yaml"));
        std::fs::write(&f, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
            .arg("lint")
            .arg(&f)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "README YAML example {i} fails lint:\n{b}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_secret_value_in_a_bad_setting_is_never_printed() {
    let dir = std::env::temp_dir().join(format!("lint_secret_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("leak.yaml");
    std::fs::write(
        &f,
        "input: {amqp_1: {urls: [amqp://localhost:5672], source_address: A, credit: env://LEAK_CREDIT}}\noutput:\n  drop_on:\n    back_pressure: env://LEAK_DUR\n    output: {kafka: {addresses: [a], topic: b}}\n",
    )
    .unwrap();
    for cmd in ["lint", "pipeline"] {
        let (_, text) = run(
            cmd,
            &f,
            &[
                ("LEAK_CREDIT", "hunter2-TOPSECRET"),
                ("LEAK_DUR", "sesame-OPEN"),
            ],
        );
        assert!(
            !text.contains("hunter2") && !text.contains("sesame"),
            "{cmd} printed a secret: {text}"
        );
        assert!(
            text.contains("leak.yaml:1:68:") && text.contains("env://LEAK_CREDIT"),
            "{cmd}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn secret_values_that_break_the_yaml_or_need_escaping_are_never_printed() {
    let dir = std::env::temp_dir().join(format!("lint_secret2_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("s.yaml");
    std::fs::write(
        &f,
        "input:\n  amqp_1:\n    urls: [amqp://localhost:5672]\n    source_address: A\n    credit: env://LEAK_X\noutput: {kafka: {addresses: [a], topic: b}}\n",
    )
    .unwrap();
    for value in ["SUPER: SECRET1", "SUPERSECRET2\nmore", "SUPER \"SECRET3"] {
        for cmd in ["lint", "pipeline"] {
            let (_, text) = run(cmd, &f, &[("LEAK_X", value)]);
            assert!(!text.contains("SECRET"), "{cmd} with {value:?}: {text}");
            // located at the reference or its key, never inside the value
            assert!(
                text.contains("s.yaml:5:13:")
                    || text.contains("s.yaml:5:5:")
                    || text.contains("s.yaml:5:17:"),
                "{cmd} with {value:?}: {text}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lint` builds nothing: with listeners on the ports a stream names (its
/// Kafka and AMQP brokers, for an amqp_1 and a kafka input), none sees a
/// connection attempt. Also a `tls` file that cannot be read and a SASL
/// mechanism the runner does not run are the same findings of both
/// commands, known without a connection.
#[test]
fn lint_opens_no_connection() {
    use std::net::TcpListener;
    let amqp = TcpListener::bind("127.0.0.1:0").unwrap();
    let kafka = TcpListener::bind("127.0.0.1:0").unwrap();
    let (a, k) = (
        amqp.local_addr().unwrap().port(),
        kafka.local_addr().unwrap().port(),
    );
    let dir = std::env::temp_dir().join(format!("lint_nonet_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outputs = format!(
        "output:\n  broker:\n    outputs:\n      - kafka: {{addresses: [127.0.0.1:{k}], topic: FOO}}\n      - amqp_1: {{urls: [amqp://127.0.0.1:{a}], target_address: FOO}}\n"
    );
    let from_amqp = dir.join("from_amqp.yaml");
    std::fs::write(
        &from_amqp,
        format!("input: {{amqp_1: {{urls: [amqp://127.0.0.1:{a}], source_address: EXTERNAL}}}}\n{outputs}"),
    )
    .unwrap();
    let from_kafka = dir.join("from_kafka.yaml");
    std::fs::write(
        &from_kafka,
        format!("input: {{kafka: {{addresses: [127.0.0.1:{k}], topics: [FOO], consumer_group: g}}}}\n{outputs}"),
    )
    .unwrap();
    for f in [&from_amqp, &from_kafka] {
        let (code, text) = run("lint", f, &[]);
        assert_eq!(code, Some(0), "{text}");
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    for (name, l) in [("amqp", &amqp), ("kafka", &kafka)] {
        l.set_nonblocking(true).unwrap();
        match l.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("lint connected to the {name} listener: {other:?}"),
        }
    }
    let tls = dir.join("tls.yaml");
    std::fs::write(
        &tls,
        "input: {amqp_1: {urls: [\"amqps://localhost:5671\"], source_address: EXTERNAL, tls: {enabled: true, skip_cert_verify: true, root_cas_file: /nonexistent/ca.pem}}}\noutput: {kafka: {addresses: [127.0.0.1:9092], topic: FOO, sasl: {mechanism: OAUTHBEARER}}}\n",
    )
    .unwrap();
    // a TLS file that cannot be read (read although verification is
    // skipped, which is warned of) and a SASL mechanism the runner does
    // not run: the same findings from both, before any connection
    for (cmd, code) in [("lint", 1), ("pipeline", 2)] {
        let (status, text) = run(cmd, &tls, &[]);
        assert_eq!(status, Some(code), "{cmd}: {text}");
        for want in [
            "tls.yaml:1:78: stream tls: input.amqp_1.tls: root_cas_file /nonexistent/ca.pem: I/O error",
            "stream tls: output.kafka.sasl.mechanism: not supported by the local runner",
            "input.amqp_1.tls.skip_cert_verify: the broker's TLS certificate is not verified",
        ] {
            assert!(text.contains(want), "{cmd}: {want}\n{text}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lint` and `pipeline` run the same check: on every fixture that lint
/// rejects, pipeline refuses to start (exit 2) with exactly the same
/// errors, each at the same line:column with the same text.
#[test]
fn lint_and_pipeline_report_identical_findings_for_every_broken_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut broken = 0;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for f in files {
        let shown = f.display().to_string();
        let (lint_code, lint_text) = run("lint", &f, &[]);
        if lint_code == Some(0) {
            continue;
        }
        broken += 1;
        // every line that names the file, warnings included, byte for byte
        let from_lint: std::collections::BTreeSet<String> = lint_text
            .lines()
            .filter(|l| l.starts_with(&format!("{shown}:")))
            .map(str::to_owned)
            .collect();
        let (code, text) = run("pipeline", &f, &[]);
        assert_eq!(code, Some(2), "pipeline {shown}: {text}");
        let from_pipeline: std::collections::BTreeSet<String> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{shown}:")))
            .map(str::to_owned)
            .collect();
        assert!(
            !from_lint.is_empty(),
            "lint {shown} failed without a finding: {lint_text}"
        );
        assert_eq!(
            from_lint, from_pipeline,
            "{shown}\nlint:\n{lint_text}\npipeline:\n{text}"
        );
    }
    assert!(broken >= 3, "only {broken} broken fixtures found");
}

/// A plain number where a string is wanted is a string, as the runner
/// reads it, also when another part of the file is wrong (the wrong part
/// alone is reported); a refused value under a password key and a URL
/// written without its scheme (`user:password@host`) are never printed.
#[test]
fn numbers_are_strings_and_no_finding_shows_a_password() {
    let dir = std::env::temp_dir().join(format!("lint_num_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("num.yaml");
    std::fs::write(
        &f,
        "input:\n  amqp_1:\n    urls: [amqp://127.0.0.1:5672]\n    source_address: 123\n    colour: red\n\
         output:\n  amqp_1:\n    urls: [amqp://127.0.0.1:5672]\n    target_address: FOO\n    \
         sasl: {mechanism: plain, user: guest, password: 54321, passwd: x}\n",
    )
    .unwrap();
    let g = dir.join("noscheme.yaml");
    std::fs::write(
        &g,
        "input:\n  amqp_1:\n    urls: [\"spuser:Zq9SecretPw@127.0.0.1:5672\"]\n    source_address: X\n\
         output:\n  amqp_1: {urls: [amqp://127.0.0.1:5672], target_address: FOO}\n",
    )
    .unwrap();
    for cmd in ["lint", "pipeline"] {
        let (_, text) = run(cmd, &f, &[]);
        assert!(
            text.contains("num.yaml:5:5: input.amqp_1.colour: unknown field `colour`"),
            "{cmd}: {text}"
        );
        assert!(
            text.contains("num.yaml:10:60: output.amqp_1.sasl.passwd: unknown field `passwd`"),
            "{cmd}: {text}"
        );
        assert!(
            !text.contains("invalid type") && !text.contains("54321"),
            "{cmd}: {text}"
        );
        let (_, text) = run(cmd, &g, &[]);
        assert!(text.contains("noscheme.yaml:3:12:"), "{cmd}: {text}");
        assert!(!text.contains("Zq9SecretPw"), "{cmd}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
