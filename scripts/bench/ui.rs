//! UI benchmark (issue 8): the reducer (`App::on_event`) and the renderer
//! driven with synthetic events on ONE thread into ratatui's TestBackend,
//! a frame (on_tick + draw at 80×24) every 33 ms of wall time, as the real
//! loop does at 30 fps. Prints the events per second absorbed, the frame
//! time p50 / p99 / max (µs), and the RSS after 100k, 500k and 1,000,000
//! arrivals (500,000 probes at two destinations; `UI_BENCH_N` probes) (it must stay flat: the lists and the trace are bounded).
//! Targets: ≥ 50,000 events/s, frame p99 < 16 ms, RSS < 100 MB.
//! `BENCH_STRICT=1` turns a missed target into a non-zero exit.
//! Run: `cargo bench --bench ui` (or `BENCH_PARTS=u scripts/bench.sh`).

use std::time::{Duration, Instant};

use chrono::Utc;
use hdrhistogram::Histogram;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use streamprobe::envelope::Probe;
use streamprobe::event::{Arrival, Detail, Event, KafkaPos, Proto, TimestampType};
use streamprobe::sanitize;
use streamprobe::tui::app::App;
use streamprobe::tui::render::render;

const RUN: &str = "bench001";

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The events of probe `seq`: sent, confirmed, and its arrival at both
/// destinations with the detail the workers capture.
fn events(seq: u64, t0: Instant, now: Instant) -> [Event; 4] {
    let body = Probe::new(RUN, seq, Utc::now()).encode();
    let arrival = |dest: usize| {
        let proto = if dest == 0 {
            Proto::Kafka {
                topic: "FOO".into(),
                partition: 0,
                offset: seq as i64,
                key: None,
                headers: vec![("h".into(), Some(b"v".to_vec()))],
                timestamp: Some((1_795_000_000_000, TimestampType::CreateTime)),
            }
        } else {
            Proto::Amqp {
                body_section: "data".into(),
                header: vec![],
                properties: vec![("content-type".into(), "application/json".into())],
                application_properties: vec![],
                annotations: vec![],
            }
        };
        Event::Arrived(Arrival {
            dest,
            at: now,
            wall: Utc::now(),
            probe: Some((RUN.into(), seq)),
            size: body.len(),
            preview: sanitize::preview(&body, 160),
            kafka: KafkaPos::of(&Detail {
                body: Vec::new(),
                proto: proto.clone(),
            }),
            detail: Some(Box::new(Detail {
                body: body.clone(),
                proto,
            })),
        })
    };
    let sent_at = t0 + Duration::from_micros(seq);
    [
        Event::Sent {
            run: RUN.into(),
            seq,
            at: sent_at.min(now),
            intended: None,
        },
        Event::Confirmed {
            run: RUN.into(),
            seq,
            at: now,
            settle: Duration::from_micros(500),
        },
        arrival(0),
        arrival(1),
    ]
}

fn main() {
    let n: u64 = std::env::var("UI_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let mut app = App::new(
        RUN,
        "amqp://localhost:5672 → EXTERNAL".into(),
        vec![
            ("kafka:FOO".into(), "127.0.0.1:9092".into()),
            ("amqp:FOO".into(), "amqp://localhost:5672".into()),
        ],
        100,
        Duration::from_secs(10),
    );
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("test backend");
    let mut frames = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let frame = Duration::from_millis(33);
    let t0 = Instant::now();
    let mut next_frame = t0 + frame;
    let mut ev_count = 0u64;
    let mut rss = Vec::new();
    // Before the first arrival: the baseline.
    let rss0 = rss_mb();
    for seq in 0..n {
        let now = Instant::now();
        for ev in events(seq, t0, now) {
            app.on_event(ev);
            ev_count += 1;
        }
        if now >= next_frame {
            let f0 = Instant::now();
            app.on_tick(f0);
            term.draw(|f| render(f, &app, f0)).expect("draw");
            let _ = frames.record((f0.elapsed().as_micros() as u64).max(1));
            next_frame += frame;
            if next_frame < now {
                next_frame = now + frame;
            }
        }
        if [50_000, 250_000, 500_000].contains(&(seq + 1)) {
            rss.push((2 * (seq + 1), rss_mb()));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    // The same frame alone (no events in between), split in its two parts.
    let (mut tick, mut draw) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..100 {
        let a = Instant::now();
        app.on_tick(a);
        let b = Instant::now();
        term.draw(|f| render(f, &app, b)).expect("draw");
        tick += b - a;
        draw += b.elapsed();
    }
    let rate = ev_count as f64 / secs;
    let p99_ms = frames.value_at_quantile(0.99) as f64 / 1000.0;
    let peak = rss.iter().map(|r| r.1).fold(0.0, f64::max);
    println!(
        "ui: {ev_count} events ({n} probes, 2 arrivals each) in {secs:.2} s on one thread: {rate:.0} events/s (target ≥ 50000)"
    );
    println!(
        "ui: {} frames at 80×24: p50 {} µs, p99 {} µs, max {} µs (target p99 < 16000 µs)",
        frames.len(),
        frames.value_at_quantile(0.5),
        frames.value_at_quantile(0.99),
        frames.max()
    );
    println!(
        "ui: a frame alone: on_tick {} µs + draw {} µs (mean of 100)",
        tick.as_micros() / 100,
        draw.as_micros() / 100
    );
    let marks: Vec<String> = rss
        .iter()
        .map(|(k, mb)| format!("after {k} arrivals {mb:.1} MB"))
        .collect();
    println!(
        "ui: RSS before {rss0:.1} MB; {} (target < 100 MB, flat)",
        marks.join(", ")
    );
    println!(
        "RESULT ui {rate:.0} events/s, frame p99 {p99_ms:.2} ms, peak RSS {peak:.1} MB after {} arrivals",
        2 * n
    );
    let strict = std::env::var("BENCH_STRICT").is_ok_and(|v| v == "1");
    if strict && (rate < 50_000.0 || p99_ms >= 16.0 || peak >= 100.0) {
        eprintln!("ui bench: a target was missed");
        std::process::exit(1);
    }
}
