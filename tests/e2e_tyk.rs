//! Tyk OAS API definitions as stream files (Tyk's `x-tyk-streaming.streams`,
//! shaped like the definitions in Tyk's docs and its `apidef/streams`
//! fixtures): `streamprobe pipeline` runs the seed's fan-out from
//! tests/fixtures/tyk_api.json, `probe --stream` on the same file passes,
//! kcat agrees; the stream is named as Tyk names it, `<api id>_<name>`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn a_tyk_api_definition_runs_and_is_probed_end_to_end() {
    require_stack();
    let (source, topic, target) = (unique("tyk_src"), unique("tyk_t"), unique("tyk_q"));
    let env = [
        ("SOURCE_ADDRESS", source.as_str()),
        ("KAFKA_TOPIC", topic.as_str()),
        ("TARGET_ADDRESS", target.as_str()),
    ];
    let file = root().join("tests/fixtures/tyk_api.json");
    let mut p = Pipeline::start(&file, &env);
    assert!(
        p.log_text()
            .contains("stream=d1dfc6a927a046c54c0ed470f19757cc_fanout"),
        "{}",
        p.log_text()
    );
    let (out, r, _) = probe_json(
        &["--count", "200", "--stream", file.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{r:#}");
    assert_all_received(&r, 200);
    // ground truth: kcat finds the run's 200 probes in the topic
    let run = r["run_id"].as_str().unwrap();
    let n = kcat_wait(&topic, 200, Duration::from_secs(20))
        .iter()
        .filter(|k| streamprobe::envelope::Probe::decode(&k.body).is_some_and(|p| p.run == run))
        .count();
    assert_eq!(n, 200);
    assert_eq!(p.interrupt(Duration::from_secs(30)), Some(0));
}

/// The YAML form of an API definition, without an API id: the stream is
/// named by its key alone, and findings carry the file's own line:col.
#[test]
fn a_yaml_api_definition_is_checked_with_its_positions() {
    let dir = std::env::temp_dir().join(unique("tyk_yaml"));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("api.yaml");
    std::fs::write(
        &f,
        "openapi: 3.0.3\ninfo: {title: t, version: 1.0.0}\npaths: {}\n\
         x-tyk-api-gateway:\n  info: {name: t, state: {active: true}}\n\
         x-tyk-streaming:\n  streams:\n    one:\n      input:\n        amqp_1:\n          urls: [amqp://127.0.0.1:5672]\n          source_address: X\n          credit: 0\n      output:\n        kafka: {addresses: [127.0.0.1:9092], topic: T}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .arg("lint")
        .arg(&f)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("api.yaml:13:11: stream one: input.amqp_1.credit: must be at least 1"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lint --tyk-version 5.8` names what Tyk 5.8 does not register (no
/// `amqp_1` before 5.9.0) at its line:col; a Tyk-shaped file with an
/// unsafe component (`file`) is warned that Tyk removes it.
#[test]
fn lint_says_where_tyk_differs_from_bento() {
    let file = root().join("tests/fixtures/tyk_api.json");
    let lint = |args: &[&str], f: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
            .arg("lint")
            .args(args)
            .arg(f)
            .envs([
                ("SOURCE_ADDRESS", "A"),
                ("KAFKA_TOPIC", "B"),
                ("TARGET_ADDRESS", "C"),
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = lint(&["--tyk-version", "5.8"], &file);
    assert_eq!(code, Some(0), "{text}");
    for want in [
        "tyk_api.json:27:11: warning: x-tyk-streaming.streams.fanout.input.amqp_1: Tyk 5.8.0 (Bento 1.4.0) does not register `amqp_1`: it arrived in Tyk 5.9.0",
        "tyk_api.json:43:16: warning: x-tyk-streaming.streams.fanout.output.broker.outputs[1].amqp_1: Tyk 5.8.0",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    let (_, text) = lint(&["--tyk-version", "5.9"], &file);
    assert!(!text.contains("warning"), "{text}");
    let dir = std::env::temp_dir().join(unique("tyk_unsafe"));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("s.yaml");
    std::fs::write(
        &f,
        "streams:\n  s:\n    input: {amqp_1: {urls: [amqp://h:5672], source_address: X}}\n    output:\n      file: {path: /tmp/out}\n",
    )
    .unwrap();
    let (_, text) = lint(&[], &f);
    assert!(
        text.contains("s.yaml:5:7: warning: streams.s.output.file: Tyk removes every `file:` key"),
        "{text}"
    );
    // a broken JSON API definition is called JSON, located in the file
    let j = dir.join("api.json");
    std::fs::write(
        &j,
        "{\n  \"x-tyk-streaming\": {\"streams\": {\"s\": {]}}\n}\n",
    )
    .unwrap();
    let (code, text) = lint(&[], &j);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("api.json:2:") && text.contains("JSON syntax:"),
        "{text}"
    );
    // a release older than streamprobe's table is refused, not guessed at
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .args(["lint", "--tyk-version", "5.3"])
        .arg(&file)
        .output()
        .unwrap();
    // a usage error: exit 2 (lint's findings go to stdout)
    let err = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--tyk-version \"5.3\"") && err.contains("from 5.8 on"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
