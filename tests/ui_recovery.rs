//! The UI's I/O tasks (publisher, AMQP consumer, Kafka consumer) recover
//! after their broker restarts, on the REAL local stack. The tasks run
//! exactly as the UI spawns them; the test reads their events instead of a
//! terminal.

mod common;

use std::time::Duration;

use clap::Parser;
use common::*;
use streamprobe::cli::Cli;
use streamprobe::event::{BodyOptions, Event, Link, SendRequest};
use streamprobe::links::{self, Workers};

/// Waits until probes `seqs` of `run` all arrived at destination `dest`.
async fn wait_arrivals(
    w: &mut Workers,
    dest: usize,
    run: &str,
    seqs: std::ops::Range<u64>,
    timeout: Duration,
) {
    let mut missing: std::collections::BTreeSet<u64> = seqs.collect();
    let what = format!("arrivals at dest {dest}");
    wait_for(w, &what, timeout, |ev| {
        if let Event::Arrived(a) = ev {
            if a.dest == dest {
                if let Some((r, s)) = &a.probe {
                    if r == run {
                        missing.remove(s);
                    }
                }
            }
        }
        missing.is_empty()
    })
    .await;
}

fn probe_lines(run: &str, seqs: std::ops::Range<u64>) -> String {
    seqs.map(|s| {
        let mut b = streamprobe::envelope::Probe::new(run, s, chrono::Utc::now()).encode();
        b.push(b'\n');
        String::from_utf8(b).unwrap()
    })
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_consumers_recover_after_broker_restarts() {
    require_stack();
    let queue = unique("recovery_q");
    let topic = unique("recovery_t");
    kcat_produce(&topic, "warm-up record, older than the consumer\n");
    // Publisher and AMQP consumer on the same queue: what is sent arrives.
    let cli = Cli::parse_from([
        "streamprobe",
        "--source",
        &queue,
        "--amqp-target",
        &queue,
        "--kafka-topic",
        &topic,
    ]);
    let mut w = links::spawn(
        &links::Plan::from_flags(&cli.ui.endpoints),
        BodyOptions::default(),
    );
    let run = "recover1".to_owned();
    let t = Duration::from_secs(60);

    let mut up = std::collections::HashSet::new();
    wait_for(&mut w, "all three links up", t, |e| {
        if let Event::Up { link } = e {
            up.insert(format!("{link:?}"));
        }
        up.len() == 3
    })
    .await;
    w.requests
        .send(SendRequest::unpaced(&run, 0..10))
        .await
        .unwrap();
    wait_arrivals(&mut w, 1, &run, 0..10, t).await;
    kcat_produce(&topic, &probe_lines(&run, 0..5));
    wait_arrivals(&mut w, 0, &run, 0..5, t).await;

    // RabbitMQ restarts: both AMQP links go down, come back, and work.
    stack("restart-rabbitmq");
    let (mut inj_up, mut amqp_up) = (false, false);
    let (mut inj_down, mut amqp_down) = (false, false);
    wait_for(
        &mut w,
        "both AMQP links down and up again",
        Duration::from_secs(90),
        |e| {
            match e {
                Event::Down {
                    link: Link::Injector,
                    ..
                } => inj_down = true,
                Event::Down {
                    link: Link::Dest(1),
                    ..
                } => amqp_down = true,
                Event::Up {
                    link: Link::Injector,
                } if inj_down => inj_up = true,
                Event::Up {
                    link: Link::Dest(1),
                } if amqp_down => amqp_up = true,
                _ => {}
            }
            inj_up && amqp_up
        },
    )
    .await;
    w.requests
        .send(SendRequest::unpaced(&run, 10..20))
        .await
        .unwrap();
    wait_arrivals(&mut w, 1, &run, 10..20, t).await;

    // Kafka restarts: the consumer keeps its position and sees new records.
    stack("restart-kafka");
    kcat_produce(&topic, &probe_lines(&run, 5..10));
    wait_arrivals(&mut w, 0, &run, 5..10, Duration::from_secs(90)).await;

    w.cancel.cancel();
    let stopped =
        tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(w.tasks)).await;
    assert!(stopped.is_ok(), "workers stop within 5 s of cancel");
}
