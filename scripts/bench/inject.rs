//! Injector throughput: streamprobe's publisher (`amqp::run_publisher`, the
//! one the UI and the probe use) against a bare fe2o3-amqp pipelined sender
//! written here as the baseline: same broker, same body bytes, same bound
//! on unsettled deliveries. Rounds alternate A B A B so drift hits both;
//! prints each round, the medians and the ratio. Needs the local stack
//! (scripts/stack.sh up); run with scripts/bench.sh or
//! `cargo bench --bench inject` (BENCH_N messages per round, default 20000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use fe2o3_amqp::types::messaging::Outcome;
use streamprobe::amqp::{self, AmqpEndpoint, MAX_UNSETTLED};
use streamprobe::event::{BodyOptions, Event, SendRequest};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

fn ep() -> AmqpEndpoint {
    AmqpEndpoint {
        url: "amqp://127.0.0.1:5672".into(),
        user: "guest".into(),
        password: "guest".into(),
        ..Default::default()
    }
}

/// The baseline: connect, attach, send `n` messages with send_batchable,
/// at most MAX_UNSETTLED unsettled, wait for every settlement.
async fn baseline(queue: &str, n: u64) -> f64 {
    let mut s = amqp::connect(&ep(), "bench-baseline")
        .await
        .expect("connect");
    let mut sender = amqp::attach_sender(&mut s, "bench-baseline", queue)
        .await
        .expect("attach");
    let sem = Arc::new(Semaphore::new(MAX_UNSETTLED));
    let opts = BodyOptions::default();
    let start = Instant::now();
    for seq in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let body = amqp::probe_body("baseline", seq, &opts);
        let fut = sender
            .send_batchable(amqp::probe_message(body))
            .await
            .expect("send");
        tokio::spawn(async move {
            assert!(matches!(fut.await, Ok(Outcome::Accepted(_))));
            drop(permit);
        });
    }
    let _all = sem.acquire_many(MAX_UNSETTLED as u32).await.unwrap();
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = sender.close().await;
    s.close().await;
    rate
}

/// streamprobe's publisher task: from the request to the last settlement.
async fn streamprobe(queue: &str, n: u64) -> f64 {
    let (ev_tx, mut ev) = mpsc::channel(65_536);
    let (req_tx, req_rx) = mpsc::channel(4);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(amqp::run_publisher(
        ep(),
        queue.to_owned(),
        BodyOptions::default(),
        req_rx,
        ev_tx,
        cancel.clone(),
    ));
    loop {
        if let Some(Event::Up { .. }) = ev.recv().await {
            break;
        }
    }
    let start = Instant::now();
    req_tx
        .send(SendRequest::unpaced("bench", 0..n))
        .await
        .unwrap();
    let mut done = 0;
    while done < n {
        match ev.recv().await {
            Some(Event::Confirmed { .. }) => done += 1,
            Some(Event::Failed { error, .. }) => panic!("send failed: {error}"),
            Some(_) => {}
            None => panic!("publisher stopped"),
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    rate
}

fn delete_queue(q: &str) {
    let _ = std::process::Command::new("rabbitmqctl")
        .args(["-q", "delete_queue", q])
        .output();
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rounds = 5;
    let (mut a, mut b) = (vec![], vec![]);
    // warm-up (connection set-up paths, queue creation)
    let q = format!("bench_warm_{}", std::process::id());
    baseline(&q, 2_000).await;
    streamprobe(&q, 2_000).await;
    delete_queue(&q);
    for r in 0..rounds {
        let qb = format!("bench_base_{}_{r}", std::process::id());
        let qs = format!("bench_sp_{}_{r}", std::process::id());
        let x = baseline(&qb, n).await;
        let y = streamprobe(&qs, n).await;
        delete_queue(&qb);
        delete_queue(&qs);
        println!(
            "round {r}: baseline {x:.0} msg/s, streamprobe injector {y:.0} msg/s, ratio {:.2}",
            y / x
        );
        a.push(x);
        b.push(y);
    }
    let (ma, mb) = (median(&mut a), median(&mut b));
    println!("injector: {n} messages per round, {rounds} rounds");
    println!(
        "RESULT injector_baseline_msgs_per_s={ma:.0} injector_streamprobe_msgs_per_s={mb:.0} ratio={:.2}",
        mb / ma
    );
}
