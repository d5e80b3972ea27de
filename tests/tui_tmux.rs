//! The REAL terminal UI driven through tmux (issue 8's 80×24 case): the
//! binary runs in a detached tmux session on its own socket, keys go in
//! with `send-keys`, the screen comes back with `capture-pane`. Needs the
//! local stack and tmux (installed by scripts/test.sh); fails without them.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A tmux server and session of this test; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux must be installed (scripts/test.sh installs it)")
    }

    /// Starts `cmd` (a shell line) in an `w`×`h` window.
    fn start(w: u16, h: u16, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: unique("sp_tmux"),
        };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            &w.to_string(),
            "-y",
            &h.to_string(),
            cmd,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "ui", k]);
            std::thread::sleep(Duration::from_millis(80));
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "ui"]).stdout).into_owned()
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", "ui"]).status.success()
    }

    /// Polls the screen until `pred` holds; fails with the last screen.
    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "never saw {what} within {timeout:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn tmux_required() {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "tmux is not installed: scripts/test.sh installs it (apt-get install tmux)"
    );
}

#[test]
fn the_demo_at_80x24_shows_latency_inspects_kafka_and_quits_with_a_summary() {
    require_stack();
    tmux_required();
    let (src, target, topic) = (unique("tui_src"), unique("tui_foo"), unique("tui_foo"));
    let _pipeline = Pipeline::start(
        &root().join("stream.yaml"),
        &[
            ("SOURCE_ADDRESS", &src),
            ("TARGET_ADDRESS", &target),
            ("KAFKA_TOPIC", &topic),
        ],
    );
    let log = std::env::temp_dir().join(format!("{}.log", unique("tui")));
    // The pane keeps the summary the UI prints after restoring the screen.
    let cmd = format!(
        "{} --source {src} --amqp-target {target} --kafka-topic {topic} --log-file {} --property tenant=acme; sleep 60",
        env!("CARGO_BIN_EXE_streamprobe"),
        log.display()
    );
    let t = Tmux::start(80, 24, &cmd);
    t.wait("the injector UP", Duration::from_secs(30), |s| {
        s.contains("injector  UP")
    });
    t.wait("the AMQP pane UP", Duration::from_secs(30), |s| {
        s.contains(&format!("amqp:{target}  UP"))
    });
    t.keys(&["b"]);
    let s = t.wait(
        "100 received at both destinations",
        Duration::from_secs(60),
        |s| s.matches("received 100").count() == 2,
    );
    // both panes: the latency header and the `all` row with units
    assert_eq!(s.matches("lat   p50     p99").count(), 2, "{s}");
    let all_rows: Vec<&str> = s.lines().filter(|l| l.contains("all   ")).collect();
    assert_eq!(
        all_rows.len(),
        1,
        "one screen line holds both panes' all rows:\n{s}"
    );
    let units = all_rows[0].matches("ms").count() + all_rows[0].matches("µs").count();
    assert!(
        units >= 6,
        "p50, p99 and max with units in both panes: {}",
        all_rows[0]
    );
    for label in ["lost 0", "late 0", "rate "] {
        assert!(
            s.matches(label).count() >= 2,
            "{label:?} in both panes:\n{s}"
        );
    }

    // Tab focuses the Kafka pane, j selects its newest message, Enter opens it
    t.keys(&["Tab", "j", "Enter"]);
    let s = t.wait("the inspector", Duration::from_secs(5), |s| {
        s.contains("message kafka:")
    });
    for must in ["partition", "offset", "trace: run"] {
        assert!(s.contains(must), "{must:?} in the inspector:\n{s}");
    }
    let trace_rows = s
        .lines()
        .filter(|l| l.contains("ms ") || l.contains("µs "))
        .count();
    assert!(trace_rows >= 2, "both destinations in the trace:\n{s}");
    assert!(s.contains("property tenant"), "{s}");
    let row = s.lines().find(|l| l.contains("property tenant")).unwrap();
    assert_eq!(
        row.matches("absent").count(),
        2,
        "tenant absent at both destinations: {row}"
    );

    t.keys(&["Escape", "q"]);
    let s = t.wait("the summary after q", Duration::from_secs(3), |s| {
        s.contains("streamprobe: run ")
    });
    assert!(s.contains("sent 100, confirmed 100, failed 0"), "{s}");
    assert!(t.alive(), "the pane keeps the summary (sleep 60)");
}

#[test]
fn an_unroutable_source_is_said_in_the_injector_pane_at_80x24() {
    require_stack();
    tmux_required();
    let key = unique("nowhere");
    let (target, topic) = (unique("tui_q"), unique("tui_t"));
    let cmd = format!(
        "{} --source /exchange/amq.direct/{key} --amqp-target {target} --kafka-topic {topic} --log-file /tmp/streamprobe-unroutable.log; sleep 30",
        env!("CARGO_BIN_EXE_streamprobe")
    );
    let t = Tmux::start(80, 24, &cmd);
    t.wait("the injector UP", Duration::from_secs(30), |s| {
        s.contains("injector  UP")
    });
    t.keys(&["s"]);
    // RabbitMQ confirms it, and the broker view says where it went: nowhere
    let s = t.wait("the diagnosis", Duration::from_secs(20), |s| {
        s.contains(&format!("/exchange/amq.direct/{key} routes to no queue"))
    });
    assert!(s.contains("confirmed 1"), "{s}");
    t.keys(&["q", "q"]);
}

#[test]
fn a_tiny_terminal_gets_a_placeholder_and_q_still_quits() {
    tmux_required();
    let cmd = format!(
        "{} --amqp-url amqp://127.0.0.1:1 --kafka-brokers 127.0.0.1:1 --log-file /tmp/streamprobe-tiny.log; echo EXIT=$?; sleep 30",
        env!("CARGO_BIN_EXE_streamprobe")
    );
    let t = Tmux::start(30, 8, &cmd);
    t.wait("the placeholder", Duration::from_secs(10), |s| {
        s.contains("terminal too small")
    });
    t.keys(&["q"]);
    t.wait("exit 0", Duration::from_secs(5), |s| s.contains("EXIT=0"));
}

#[test]
fn without_a_terminal_it_exits_2_and_says_so() {
    let out = Command::new(env!("CARGO_BIN_EXE_streamprobe"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout: {:?}", out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("streamprobe needs a terminal; for CI use `streamprobe probe`"),
        "{err}"
    );
}

/// The UI with nothing but `--profile remote`: a secured deployment (the
/// stack's AMQPS and Kafka SASL_SSL listeners, run by the local runner on
/// tests/fixtures/secure.yaml) shows both destinations receiving a burst.
#[test]
fn the_ui_with_only_a_profile_works_over_tls_and_sasl() {
    require_stack();
    tmux_required();
    let (src, target, topic) = (unique("tp_src"), unique("tp_q"), unique("tp_t"));
    let ca = stack_ca();
    let _pipeline = Pipeline::start(
        &root().join("tests/fixtures/secure.yaml"),
        &[
            ("SOURCE_ADDRESS", &src),
            ("TARGET_ADDRESS", &target),
            ("KAFKA_TOPIC", &topic),
            ("CA_FILE", ca.to_str().unwrap()),
        ],
    );
    let config = secured_profile(&src, &target, &topic);
    let log = std::env::temp_dir().join(format!("{}.log", unique("tui")));
    let cmd = format!(
        "STREAMPROBE_CONFIG={} STREAMPROBE_LOG_FILE={} {} --profile remote; sleep 60",
        config.display(),
        log.display(),
        env!("CARGO_BIN_EXE_streamprobe"),
    );
    let t = Tmux::start(80, 24, &cmd);
    t.wait("the injector UP over AMQPS", Duration::from_secs(30), |s| {
        s.contains("injector  UP  amqps://localhost:5671")
    });
    t.keys(&["b"]);
    let s = t.wait("100 received at both", Duration::from_secs(60), |s| {
        s.matches("received 100").count() == 2
    });
    assert!(!s.contains("probe-secret"), "{s}");
    let _ = std::fs::remove_file(&config);
}

/// The UI against Apache ActiveMQ Artemis (a second AMQP 1.0 broker, the
/// source and the AMQP destination): a burst arrives at both panes, and
/// the injector pane says the RabbitMQ broker view has nothing for it.
#[test]
fn the_ui_works_with_artemis_as_the_amqp_broker() {
    require_stack();
    tmux_required();
    stack("start-artemis");
    let (src, target, topic) = (unique("ta_src"), unique("ta_q"), unique("ta_t"));
    let _pipeline = Pipeline::start(
        &root().join("tests/fixtures/artemis.yaml"),
        &[
            ("SOURCE_ADDRESS", &src),
            ("TARGET_ADDRESS", &target),
            ("KAFKA_TOPIC", &topic),
        ],
    );
    let log = std::env::temp_dir().join(format!("{}.log", unique("tui")));
    let cmd = format!(
        "{} --amqp-url amqp://127.0.0.1:5673 --source {src} --amqp-target {target} --kafka-topic {topic} --log-file {}; sleep 60",
        env!("CARGO_BIN_EXE_streamprobe"),
        log.display()
    );
    let t = Tmux::start(80, 24, &cmd);
    t.wait("the AMQP pane UP", Duration::from_secs(30), |s| {
        s.contains(&format!("amqp:{target}  UP"))
    });
    t.wait("the injector UP", Duration::from_secs(30), |s| {
        s.contains("injector  UP  amqp://127.0.0.1:5673")
    });
    t.keys(&["b"]);
    let s = t.wait("100 received at both", Duration::from_secs(60), |s| {
        s.matches("received 100").count() == 2
    });
    assert!(
        s.contains("broker view off: the AMQP broker at 127.0.0.1:5673"),
        "{s}"
    );
}
