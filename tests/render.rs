//! Render test: the UI drawn into ratatui's TestBackend from a fixed
//! sequence of events (frozen clock and run id), compared with an insta
//! snapshot; and reducer key sequences.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use streamprobe::envelope::Probe;
use streamprobe::event::{Arrival, Event, Link};
use streamprobe::sanitize;
use streamprobe::tui::app::{App, Command, LinkStatus};
use streamprobe::tui::render::render;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn wall(ms: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + chrono::Duration::milliseconds(ms)
}

fn app() -> App {
    App::new(
        "c0ffee01",
        "amqp://localhost:5672 → EXTERNAL".into(),
        vec![
            ("kafka:FOO".into(), "127.0.0.1:9092".into()),
            ("amqp:FOO".into(), "amqp://localhost:5672".into()),
        ],
        100,
        Duration::from_secs(10),
    )
}

fn arrival(dest: usize, at: Instant, w: DateTime<Utc>, body: &[u8]) -> Event {
    Event::Arrived(Arrival {
        dest,
        at,
        wall: w,
        probe: Probe::decode(body).map(|p| (p.run, p.seq)),
        size: body.len(),
        preview: sanitize::preview(body, 160),
        detail: None,
    })
}

#[test]
fn snapshot_after_a_small_run() {
    let t0 = Instant::now();
    let mut app = app();
    app.on_event(Event::Up {
        link: Link::Injector,
    });
    app.on_event(Event::Up {
        link: Link::Dest(1),
    });
    app.on_event(Event::Down {
        link: Link::Dest(0),
        error: "cannot reach Kafka at 127.0.0.1:9092: BrokerTransportFailure".into(),
    });
    let Some(Command::Send(req)) = app.on_key(key('b')) else {
        panic!("a burst request")
    };
    assert_eq!(req.seqs, 0..100);
    for seq in 0..6u64 {
        let at = t0 + Duration::from_millis(seq);
        app.on_event(Event::Sent {
            run: "c0ffee01".into(),
            seq,
            at,
            intended: None,
        });
        app.on_event(Event::Confirmed {
            run: "c0ffee01".into(),
            seq,
            at: at + Duration::from_micros(800),
            settle: Duration::from_micros(800),
        });
    }
    for seq in [0u64, 1, 3, 2, 4, 4] {
        let body = Probe::new("c0ffee01", seq, wall(seq as i64)).encode();
        app.on_event(arrival(
            1,
            t0 + Duration::from_millis(seq * 2 + 10),
            wall(100 + seq as i64),
            &body,
        ));
    }
    app.on_event(arrival(
        1,
        t0 + Duration::from_millis(30),
        wall(130),
        b"hello \x1b[31mred\x1b[0m",
    ));
    app.on_event(arrival(
        0,
        t0 + Duration::from_millis(30),
        wall(131),
        &[0xde, 0xad, 0xbe, 0xef],
    ));
    app.on_tick(t0 + Duration::from_millis(10_500));
    let d = app.tracker.dest(1);
    assert_eq!(
        (d.delivered, d.duplicates, d.out_of_order, d.foreign, d.lost),
        (5, 1, 1, 1, 1)
    );
    assert_eq!(app.tracker.dest(0).lost, 6);
    assert_eq!(app.in_flight(), 0);

    let mut terminal = Terminal::new(TestBackend::new(140, 26)).unwrap();
    terminal
        .draw(|f| render(f, &app, t0 + Duration::from_millis(10_500)))
        .unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(
        !screen.contains('\x1b'),
        "no raw escape reaches the terminal"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn help_overlay_and_keys() {
    let mut app = app();
    let seqs = |c: Option<Command>| match c {
        Some(Command::Send(r)) => r.seqs,
        other => panic!("send expected, got {other:?}"),
    };
    assert_eq!(seqs(app.on_key(key('s'))), 0..1);
    app.on_key(key('+'));
    assert_eq!(app.burst, 200);
    app.on_key(key('-'));
    app.on_key(key('-'));
    assert_eq!(app.burst, 50);
    assert_eq!(seqs(app.on_key(key('b'))), 1..51);
    assert!(matches!(app.on_key(key('r')), Some(Command::Reset)));
    app.reset("feedbeef");
    assert_eq!(app.tracker.run(), "feedbeef");
    assert_eq!(
        seqs(app.on_key(key('s'))),
        0..1,
        "a new run starts at seq 0"
    );
    app.on_key(key('?'));
    assert!(app.show_help);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    terminal.draw(|f| render(f, &app, Instant::now())).unwrap();
    assert!(format!("{}", terminal.backend()).contains("double / halve the burst size"));
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
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
fn dead_letter_panes_only_count_arrivals() {
    let mut app = App::new(
        "c0ffee01",
        "amqp://localhost:5672 → EXTERNAL".into(),
        vec![
            ("kafka:FOO".into(), "127.0.0.1:9092".into()),
            (
                "amqp:KAFKA_DLQ · dead letter".into(),
                "amqp://localhost:5672".into(),
            ),
        ],
        100,
        Duration::from_secs(10),
    );
    app.dests[1].expected = false;
    let mut terminal = Terminal::new(TestBackend::new(140, 24)).unwrap();
    terminal.draw(|f| render(f, &app, Instant::now())).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(screen.contains("amqp:KAFKA_DLQ · dead letter"), "{screen}");
    assert!(
        screen.contains("only when the output before it fails"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("pending").count(),
        1,
        "only the primary pane has pending/lost"
    );
}
