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
use streamprobe::tui::app::{App, LinkStatus};
use streamprobe::tui::render::render;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn wall(ms: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z").unwrap().with_timezone(&Utc) + chrono::Duration::milliseconds(ms)
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
    })
}

#[test]
fn snapshot_after_a_small_run() {
    let t0 = Instant::now();
    let mut app = app();
    app.on_event(Event::Up { link: Link::Injector });
    app.on_event(Event::Up { link: Link::Dest(1) });
    app.on_event(Event::Down { link: Link::Dest(0), error: "cannot reach Kafka at 127.0.0.1:9092: BrokerTransportFailure".into() });
    let req = app.on_key(key('b')).expect("a burst request");
    assert_eq!(req.seqs, 0..100);
    for seq in 0..5u64 {
        let at = t0 + Duration::from_millis(seq);
        app.on_event(Event::Sent { run: "c0ffee01".into(), seq, at });
        app.on_event(Event::Confirmed { run: "c0ffee01".into(), seq, at: at + Duration::from_micros(800), settle: Duration::from_micros(800) });
    }
    for seq in [0u64, 1, 3, 2, 4, 4] {
        let body = Probe::new("c0ffee01", seq, wall(seq as i64)).encode();
        app.on_event(arrival(1, t0 + Duration::from_millis(seq * 2 + 10), wall(100 + seq as i64), &body));
    }
    app.on_event(arrival(1, t0 + Duration::from_millis(30), wall(130), b"hello \x1b[31mred\x1b[0m"));
    app.on_event(arrival(0, t0 + Duration::from_millis(30), wall(131), &[0xde, 0xad, 0xbe, 0xef]));
    let d = app.tracker.dest(1);
    assert_eq!((d.delivered, d.duplicates, d.out_of_order, d.foreign), (5, 1, 1, 1));
    assert_eq!(app.in_flight(), 0);

    let mut terminal = Terminal::new(TestBackend::new(120, 24)).unwrap();
    terminal.draw(|f| render(f, &app, t0 + Duration::from_millis(500))).unwrap();
    let screen = format!("{}", terminal.backend());
    assert!(!screen.contains('\x1b'), "no raw escape reaches the terminal");
    insta::assert_snapshot!(screen);
}

#[test]
fn help_overlay_and_keys() {
    let mut app = app();
    assert_eq!(app.on_key(key('s')).unwrap().seqs, 0..1);
    app.on_key(key('+'));
    assert_eq!(app.burst, 200);
    app.on_key(key('-'));
    app.on_key(key('-'));
    assert_eq!(app.burst, 50);
    assert_eq!(app.on_key(key('b')).unwrap().seqs, 1..51);
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
