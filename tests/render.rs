//! Render and reducer tests: the UI drawn by ratatui's TestBackend from a
//! fixed sequence of events (frozen clock, wall times and run id) and
//! compared with insta snapshots at 80×24, 120×40 (four destinations) and
//! 200×60; key sequences driven through the reducer (focus, select,
//! inspect, trace, filter, pause, clear, compose, record, mouse).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use streamprobe::envelope::Probe;
use streamprobe::event::{Arrival, Detail, Event, Inject, Link, Proto, TimestampType};
use streamprobe::sanitize;
use streamprobe::tui::app::{App, Command, LinkStatus};
use streamprobe::tui::render::render;

const RUN: &str = "c0ffee01";

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn wall(ms: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::milliseconds(ms)
}

fn app_with(dests: &[&str]) -> App {
    App::new(
        RUN,
        "amqp://localhost:5672 → EXTERNAL".into(),
        dests
            .iter()
            .map(|d| {
                let ep = if d.starts_with("kafka") {
                    "127.0.0.1:9092"
                } else {
                    "amqp://localhost:5672"
                };
                (d.to_string(), ep.to_string())
            })
            .collect(),
        100,
        Duration::from_secs(10),
    )
}

fn app() -> App {
    app_with(&["kafka:FOO", "amqp:FOO"])
}

/// A Kafka record at `offset` that the producer stamped at `ts_ms`.
fn kafka_detail(body: &[u8], offset: i64, ts_ms: i64) -> Detail {
    Detail {
        body: body.to_vec(),
        proto: Proto::Kafka {
            topic: "FOO".into(),
            partition: 0,
            offset,
            key: None,
            headers: vec![],
            timestamp: Some((ts_ms, TimestampType::CreateTime)),
        },
    }
}

fn amqp_detail(body: &[u8], app_props: &[(&str, &str)]) -> Detail {
    Detail {
        body: body.to_vec(),
        proto: Proto::Amqp {
            body_section: "data".into(),
            header: vec![],
            properties: vec![],
            application_properties: app_props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: vec![],
        },
    }
}

fn arrival(dest: usize, at: Instant, w: DateTime<Utc>, body: &[u8]) -> Event {
    let detail = if dest == 0 {
        // produced 2 ms before it arrived
        kafka_detail(
            body,
            1000 + w.timestamp_subsec_millis() as i64,
            w.timestamp_millis() - 2,
        )
    } else {
        amqp_detail(body, &[])
    };
    let kafka = streamprobe::event::KafkaPos::of(&detail);
    Event::Arrived(Arrival {
        dest,
        at,
        wall: w,
        probe: Probe::decode(body).map(|p| (p.run, p.seq)),
        size: body.len(),
        preview: sanitize::preview(body, 160),
        detail: Some(Box::new(detail)),
        kafka,
    })
}

fn send(app: &mut App, t0: Instant, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        let at = t0 + Duration::from_millis(seq);
        app.on_event(Event::Sent {
            run: RUN.into(),
            seq,
            at,
            intended: None,
        });
        app.on_event(Event::Confirmed {
            run: RUN.into(),
            seq,
            at: at + Duration::from_micros(800),
            settle: Duration::from_micros(800),
        });
    }
}

/// 100 probes, all at both destinations, a few late/dup/foreign extras.
fn busy_app(dests: &[&str], t0: Instant) -> App {
    let mut app = app_with(dests);
    for l in std::iter::once(Link::Injector).chain((0..dests.len()).map(Link::Dest)) {
        app.on_event(Event::Up { link: l });
    }
    let Some(Command::Send(req)) = app.on_key(key('b')) else {
        panic!("a burst request")
    };
    assert_eq!(req.seqs, 0..100);
    send(&mut app, t0, 0..100);
    for seq in 0..100u64 {
        let body = Probe::new(RUN, seq, wall(seq as i64)).encode();
        for dest in 0..dests.len() {
            let lat = 2 + seq * 3 + dest as u64;
            app.on_event(arrival(
                dest,
                t0 + Duration::from_millis(seq + lat),
                wall((seq + lat) as i64),
                &body,
            ));
        }
    }
    app.on_event(arrival(
        1,
        t0 + Duration::from_millis(500),
        wall(500),
        b"hello \x1b[31mred\x1b[0m",
    ));
    app.on_event(arrival(
        0,
        t0 + Duration::from_millis(501),
        wall(501),
        &[0xde, 0xad, 0xbe, 0xef],
    ));
    app.on_tick(t0 + Duration::from_millis(1_500));
    app
}

fn draw(app: &mut App, w: u16, h: u16, now: Instant) -> String {
    app.screen = Rect::new(0, 0, w, h);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render(f, app, now)).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(
        !screen.contains('\x1b'),
        "no raw escape reaches the terminal"
    );
    screen
}

#[test]
fn snapshot_80x24_two_destinations() {
    let t0 = Instant::now();
    let mut app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    let screen = draw(&mut app, 80, 24, t0 + Duration::from_millis(1_500));
    for must in [
        "received 100",
        "lost 0",
        "late 0",
        "rate",
        "p50",
        "p99",
        "max",
        "all",
        "10 s",
    ] {
        assert!(
            screen.matches(must).count() >= 2,
            "{must:?} shown in both panes:\n{screen}"
        );
    }
    insta::assert_snapshot!(screen);
}

#[test]
fn snapshot_120x40_four_destinations() {
    let t0 = Instant::now();
    let dests = [
        "kafka:FOO",
        "amqp:FOO",
        "amqp:KAFKA_DLQ · dead letter",
        "kafka:AMQP_DLQ · dead letter",
    ];
    let mut app = busy_app(&dests, t0);
    app.dests[2].expected = false;
    app.dests[3].expected = false;
    let screen = draw(&mut app, 120, 40, t0 + Duration::from_millis(1_500));
    assert!(screen.contains("p99.9"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn snapshot_200x60() {
    let t0 = Instant::now();
    let mut app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    let screen = draw(&mut app, 200, 60, t0 + Duration::from_millis(1_500));
    insta::assert_snapshot!(screen);
}

#[test]
fn no_samples_show_a_dash_and_a_tiny_terminal_a_placeholder() {
    let mut app = app();
    let screen = draw(&mut app, 80, 24, Instant::now());
    assert!(
        screen.contains("all   –       –       –       0"),
        "{screen}"
    );
    let screen = draw(&mut app, 40, 10, Instant::now());
    assert!(
        screen.contains("terminal too small (40×10): need 76×13,")
            && screen.contains("38×20 stacked · q quits"),
        "{screen}"
    );
    for (w, h) in [(1, 1), (10, 3), (0, 0), (75, 100), (300, 5)] {
        draw(&mut app, w.max(1), h.max(1), Instant::now());
    }
}

#[test]
fn tab_j_enter_opens_a_kafka_message_with_its_trace() {
    let t0 = Instant::now();
    let mut app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    let now = t0 + Duration::from_millis(1_500);
    // Tab focuses the first pane (kafka), then amqp, Shift-Tab back
    assert!(!app.focused);
    app.on_key(code(KeyCode::Tab));
    assert_eq!((app.focused, app.focus), (true, 0));
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.focus, 1);
    app.on_key(code(KeyCode::BackTab));
    assert_eq!(app.focus, 0);
    // j selects the newest (the foreign binary message), j again the probe #99
    app.on_key(key('j'));
    app.on_key(key('j'));
    let sel = app.dests[0].selected.unwrap();
    assert_eq!(app.dests[0].by_id(sel).unwrap().seq(), Some(99));
    // the list stops following: a new arrival is counted, not shown
    app.on_event(arrival(0, now, wall(2_000), b"later"));
    assert_eq!(app.dests[0].unseen(), 1);
    let screen = draw(&mut app, 80, 24, now);
    assert!(screen.contains("+1 new"), "{screen}");
    app.on_key(code(KeyCode::Enter));
    let screen = draw(&mut app, 80, 24, now);
    for must in [
        "partition",
        "offset",
        "1",
        "CreateTime",
        "trace: run c0ffee01 seq #99",
        "kafka:FOO",
        "amqp:FOO",
        "key",
        "null",
    ] {
        assert!(screen.contains(must), "{must:?}:\n{screen}");
    }
    // both destinations listed with a latency in the trace
    let trace: Vec<&str> = screen.lines().filter(|l| l.contains("12:00:00.")).collect();
    assert!(trace.len() >= 2, "{screen}");
    insta::assert_snapshot!(screen);
    // scroll down to the body
    for _ in 0..30 {
        app.on_key(key('j'));
    }
    let screen = draw(&mut app, 80, 24, now);
    assert!(
        screen.contains("\"streamprobe\": 1"),
        "pretty JSON body:\n{screen}"
    );
    app.on_key(code(KeyCode::Esc));
    assert!(app.inspector.is_none());
    // Esc again returns to following
    app.on_key(code(KeyCode::Esc));
    assert_eq!((app.dests[0].selected, app.dests[0].unseen()), (None, 0));
}

#[test]
fn trace_shows_injected_metadata_absent_at_both_destinations() {
    let t0 = Instant::now();
    let mut app = app();
    app.inject = Arc::new(Inject {
        properties: vec![("tenant".into(), "acme".into())],
        ..Inject::default()
    });
    let Some(Command::Send(req)) = app.on_key(key('s')) else {
        panic!("send")
    };
    assert_eq!(
        req.inject.properties,
        [("tenant".to_string(), "acme".to_string())]
    );
    send(&mut app, t0, 0..1);
    let body = Probe::new(RUN, 0, wall(0)).encode();
    app.on_event(arrival(0, t0 + Duration::from_millis(3), wall(3), &body));
    app.on_event(arrival(1, t0 + Duration::from_millis(4), wall(4), &body));
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Enter));
    let screen = draw(&mut app, 120, 40, t0 + Duration::from_millis(10));
    let row = screen
        .lines()
        .find(|l| l.contains("property tenant"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(row.contains("acme"), "{row}");
    assert_eq!(row.matches("absent").count(), 2, "{row}");
    assert!(
        screen.contains("the stream deleted the metadata"),
        "{screen}"
    );

    // a stream that keeps it: the AMQP destination shows it kept
    let mut app2 = self::app();
    app2.inject = app.inject.clone();
    app2.on_key(key('s'));
    send(&mut app2, t0, 0..1);
    app2.on_event(Event::Arrived(Arrival {
        dest: 1,
        at: t0 + Duration::from_millis(4),
        wall: wall(4),
        probe: Some((RUN.into(), 0)),
        size: body.len(),
        preview: String::new(),
        detail: Some(Box::new(amqp_detail(&body, &[("tenant", "acme")]))),
        kafka: None,
    }));
    app2.on_key(code(KeyCode::Tab));
    app2.on_key(code(KeyCode::Tab));
    app2.on_key(key('j'));
    app2.on_key(code(KeyCode::Enter));
    let screen = draw(&mut app2, 120, 40, t0 + Duration::from_millis(10));
    let row = screen
        .lines()
        .find(|l| l.contains("property tenant"))
        .unwrap();
    assert!(row.contains("kept"), "{row}");
    assert!(
        screen.contains("not yet"),
        "kafka has not got it yet:\n{screen}"
    );
}

#[test]
fn filter_pause_clear_and_reset() {
    let t0 = Instant::now();
    let mut app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    let now = t0 + Duration::from_millis(1_500);
    app.on_key(key('/'));
    for c in "RED".chars() {
        app.on_key(key(c));
    }
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.filter, "red");
    assert_eq!(app.dests[1].visible(&app.filter).len(), 1);
    assert_eq!(app.dests[0].visible(&app.filter).len(), 0);
    let screen = draw(&mut app, 80, 24, now);
    assert!(screen.contains("/red"), "{screen}");
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.filter, "");

    // pause: lists stop, counting goes on
    app.on_key(key('p'));
    assert!(app.paused);
    let before = app.stats.tracker.dest(1).foreign;
    app.on_event(arrival(1, now, wall(3_000), b"new one"));
    assert_eq!(app.stats.tracker.dest(1).foreign, before + 1);
    assert_eq!(app.dests[1].unseen(), 1);
    let screen = draw(&mut app, 80, 24, now);
    assert!(screen.contains("PAUSED"), "{screen}");
    app.on_key(key(' '));
    assert!(!app.paused);
    assert_eq!(app.dests[1].unseen(), 0);

    app.on_key(key('c'));
    assert!(app.dests.iter().all(|d| d.recent.is_empty()));
    assert_eq!(
        app.stats.tracker.dest(0).delivered,
        100,
        "c keeps the figures"
    );
    let Some(Command::Send(burst)) = app.on_key(key('b')) else {
        panic!("b sends")
    };
    assert!(matches!(app.on_key(key('r')), Some(Command::Reset)));
    app.on_event(arrival(1, now, wall(3_001), b"x"));
    app.reset("feedbeef");
    assert!(
        burst.stop.is_cancelled(),
        "r stops what the old run still had to send"
    );
    assert_eq!(app.stats.run(), "feedbeef");
    assert!(
        app.dests.iter().all(|d| d.recent.is_empty()),
        "r clears the messages too"
    );
    assert_eq!(app.stats.tracker.dest(0).delivered, 0);
    match app.on_key(key('s')) {
        Some(Command::Send(r)) => assert_eq!(r.seqs, 0..1, "a new run starts at seq 0"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn compose_record_help_and_quit() {
    let mut app = app();
    app.compose_body = "{\"order\": 7}".into();
    app.on_key(key('m'));
    assert!(app.composer.is_some());
    // typing goes into the field, q does not quit there
    app.on_key(code(KeyCode::Tab));
    for c in "tenant=acme".chars() {
        app.on_key(key(c));
    }
    assert!(!app.quit);
    let screen = draw(&mut app, 80, 24, Instant::now());
    assert!(screen.contains("compose a message"), "{screen}");
    let Some(Command::Send(req)) = app.on_key(code(KeyCode::Enter)) else {
        panic!("the composer sends")
    };
    assert_eq!(req.seqs, 0..1);
    assert_eq!(req.inject.payload, Some(serde_json::json!({"order": 7})));
    assert_eq!(
        req.inject.properties,
        [("tenant".to_string(), "acme".to_string())]
    );
    assert!(app.composer.is_none());
    // a burst from the composer
    app.on_key(key('m'));
    let Some(Command::Send(req)) =
        app.on_key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL))
    else {
        panic!("burst")
    };
    assert_eq!(req.seqs, 1..101);
    assert!(matches!(app.on_key(key('w')), Some(Command::Record)));

    app.on_key(key('+'));
    assert_eq!(app.burst, 200);
    app.on_key(key('-'));
    app.on_key(key('-'));
    assert_eq!(app.burst, 50);
    app.on_key(key('?'));
    assert!(app.show_help);
    let screen = draw(&mut app, 80, 24, Instant::now());
    assert!(screen.contains("double the burst size"), "{screen}");
    app.on_key(code(KeyCode::Esc));
    assert!(!app.show_help);
    assert!(!app.quit);
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.quit);
    let mut app2 = self::app();
    app2.on_key(key('q'));
    assert!(app2.quit);
    assert_eq!(app2.injector.status, LinkStatus::Connecting);
}

#[test]
fn mouse_click_focuses_and_wheel_scrolls_the_pane_under_it() {
    let t0 = Instant::now();
    let mut app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    app.screen = Rect::new(0, 0, 80, 24);
    let m = |kind, column, row| MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    };
    app.on_mouse(m(MouseEventKind::Down(MouseButton::Left), 60, 10));
    assert_eq!(app.focus, 1);
    app.on_mouse(m(MouseEventKind::ScrollDown, 10, 15));
    app.on_mouse(m(MouseEventKind::ScrollDown, 10, 15));
    assert_eq!(app.focus, 0);
    let sel = app.dests[0].selected.expect("wheel selects");
    assert_eq!(app.dests[0].by_id(sel).unwrap().seq(), Some(99));
}

/// Asserts that `screen` holds each of `lines` (whole screen rows).
fn assert_lines(screen: &str, lines: &[&str]) {
    for line in lines {
        assert!(screen.contains(line), "no {line:?} in\n{screen}");
    }
}

#[test]
fn diagnoses_what_nobody_received_and_a_silent_destination() {
    let t0 = Instant::now();
    let mut app = app();
    app.on_key(key('b'));
    send(&mut app, t0, 0..100);
    app.on_tick(t0 + Duration::from_secs(11));
    let screen = draw(&mut app, 120, 40, t0 + Duration::from_secs(11));
    assert!(
        screen.contains(
            "no destination received seq 0–99 (100 probes): is anything consuming EXTERNAL?"
        ),
        "{screen}"
    );
    // at 80×24 the injector pane grows so the whole sentence shows
    let screen = draw(&mut app, 80, 24, t0 + Duration::from_secs(11));
    assert_lines(
        &screen,
        &[
            "│no destination received seq 0–99 (100 probes): is anything consuming EXTERNAL?│",
            "│is the stream running?                                                        │",
            "│received 0  pending 0  lost 100       ││received 0  pending 0  lost 100       │",
        ],
    );

    let mut app = app_with(&["kafka:FOO", "amqp:FOO"]);
    app.on_key(key('b'));
    send(&mut app, t0, 0..10);
    let body = Probe::new(RUN, 0, wall(0)).encode();
    app.on_event(arrival(0, t0 + Duration::from_millis(5), wall(5), &body));
    for seq in 1..10u64 {
        let body = Probe::new(RUN, seq, wall(0)).encode();
        app.on_event(arrival(1, t0 + Duration::from_secs(seq), wall(5), &body));
    }
    // the whole sentence, word-wrapped in one piece under the counts
    let screen = draw(&mut app, 80, 24, t0 + Duration::from_secs(9));
    assert_lines(
        &screen,
        &[
            "│stopped receiving 8 s ago, after seq  │",
            "│9: its output is stuck (behind one    │",
            "│message?) or failing                  │",
        ],
    );
    // a pane with one row to spare shows the short form
    let screen = draw(&mut app, 80, 14, t0 + Duration::from_secs(9));
    assert!(
        screen.contains("stuck after #0 for 8 s; amqp:FOO at #9"),
        "{screen}"
    );
}

#[test]
fn dead_letter_panes_only_count_arrivals() {
    let mut app = app_with(&["kafka:FOO", "amqp:KAFKA_DLQ · dead letter"]);
    app.dests[1].expected = false;
    let screen = draw(&mut app, 140, 24, Instant::now());
    assert!(screen.contains("amqp:KAFKA_DLQ · dead letter"), "{screen}");
    assert!(
        screen.contains("only what the output before it fails"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("pending").count(),
        1,
        "only the primary pane has pending/lost"
    );
}

#[test]
fn quit_summary_lists_every_destination() {
    let t0 = Instant::now();
    let app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    let s = streamprobe::tui::summary::text(&app, Some("/tmp/s.jsonl"));
    assert!(
        s.starts_with("streamprobe: run c0ffee01: sent 100, confirmed 100, failed 0"),
        "{s}"
    );
    assert!(
        s.contains(
            "kafka:FOO  received 100 lost 0 pending 0 late 0 dup 0\n             latency p50 "
        ),
        "{s}"
    );
    assert!(s.contains("amqp:FOO   received 100"), "{s}");
    assert!(s.contains("streamprobe report /tmp/s.jsonl"), "{s}");
    // nothing wraps in an 80-column terminal
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
}

#[test]
fn the_inspector_wraps_long_values_instead_of_cutting_them() {
    use ratatui::text::Line;
    let long = format!("\"payload\": \"{}END\"", "x".repeat(200));
    let lines = streamprobe::tui::inspector::wrap(Line::from(long.clone()), 60);
    assert!(lines.len() >= 4, "{lines:?}");
    assert!(lines.iter().all(|l| l.width() <= 60));
    let text: String = lines
        .iter()
        .map(|l| l.to_string().trim_start().to_owned())
        .collect();
    assert_eq!(text, long, "every character is still there");
}

#[test]
fn help_at_80x24_scrolls_and_leaves_the_hints_line() {
    let mut app = app();
    let now = Instant::now();
    app.on_key(key('?'));
    let screen = draw(&mut app, 80, 24, now);
    let last = screen.lines().last().unwrap_or("");
    assert!(last.contains("q quit"), "the hints line stays: {screen}");
    assert!(screen.contains("j/k scroll"), "{screen}");
    assert!(screen.contains("p/Space"), "space is listed: {screen}");
    app.on_key(key('G'));
    let screen = draw(&mut app, 80, 24, now);
    assert!(
        screen.contains("mouse: click focuses a pane"),
        "G shows the end: {screen}"
    );
}

/// Scrolling the inspector and the help overlay stops at the last line, so
/// the way back starts at once (k after G moves up one line).
#[test]
fn inspector_and_help_never_scroll_past_their_end() {
    let t0 = Instant::now();
    let mut app = busy_app(&["kafka:FOO", "amqp:FOO"], t0);
    app.screen = Rect::new(0, 0, 80, 24);
    app.on_key(code(KeyCode::Tab));
    app.on_key(key('j'));
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Enter));
    app.on_key(key('G'));
    let bottom = app.inspector.as_ref().unwrap().scroll;
    assert!(bottom > 0 && bottom < 100, "{bottom}");
    for _ in 0..30 {
        app.on_key(key('j'));
    }
    app.on_key(code(KeyCode::PageDown));
    assert_eq!(app.inspector.as_ref().unwrap().scroll, bottom);
    app.on_key(key('k'));
    assert_eq!(app.inspector.as_ref().unwrap().scroll, bottom - 1);
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('?'));
    for _ in 0..200 {
        app.on_key(key('j'));
    }
    let end = app.help_scroll;
    app.on_key(key('k'));
    assert_eq!(app.help_scroll, end - 1);
}
