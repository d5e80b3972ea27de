//! The `kafka` input of the local runner (consumer group, commit on
//! confirmation), used by recovery streams that read a Kafka dead-letter
//! topic.
//!
//! Offsets are committed only up to the first message of each partition
//! that the output tree has not confirmed yet, so a restart never skips an
//! unconfirmed message (at-least-once; duplicates possible). A message whose
//! output fails is submitted again with Bento's backoff until it succeeds
//! (Bento's kafka input likewise never moves its committed offset past a
//! nacked message). Rebalances are not handled specially: the runner is one
//! member of its group.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::kafka::SetAll as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message as _};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::kafka::QuietContext;
use crate::pipeline::config::{KafkaInput, broker_list};
use crate::pipeline::connect;
use crate::pipeline::message::Msg;
use crate::pipeline::metrics::Counter;
use crate::pipeline::output::{retry_forever, submit};
use crate::pipeline::stream::Stream;

#[derive(Default)]
struct Partition {
    pending: BTreeSet<i64>,
    next: i64,
    committed: i64,
}

impl Partition {
    /// The offset it is safe to commit: the first unconfirmed one, else one
    /// past the highest seen.
    fn commit_point(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

fn commit(
    consumer: &StreamConsumer<QuietContext>,
    parts: &mut HashMap<(String, i32), Partition>,
    id: &str,
    mode: CommitMode,
) {
    let mut tpl = TopicPartitionList::new();
    let mut any = false;
    for ((topic, p), st) in parts.iter_mut() {
        let at = st.commit_point();
        if at > st.committed
            && tpl
                .add_partition_offset(topic, *p, Offset::Offset(at))
                .is_ok()
        {
            st.committed = at;
            any = true;
        }
    }
    if any {
        if let Err(e) = consumer.commit(&tpl, mode) {
            tracing::warn!(stream = %id, error = %e, "kafka input: commit failed; will retry");
            for st in parts.values_mut() {
                st.committed = -1;
            }
        }
    }
}

/// Metadata as Bento's kafka input sets it: `kafka_key`, `kafka_topic`,
/// `kafka_partition`, `kafka_offset`, `kafka_timestamp_unix`, and every
/// record header (UTF-8 values).
fn metadata(
    m: &rdkafka::message::BorrowedMessage<'_>,
) -> std::collections::BTreeMap<String, String> {
    let mut meta = std::collections::BTreeMap::new();
    if let Some(k) = m.key() {
        meta.insert("kafka_key".into(), String::from_utf8_lossy(k).into_owned());
    }
    meta.insert("kafka_topic".into(), m.topic().to_owned());
    meta.insert("kafka_partition".into(), m.partition().to_string());
    meta.insert("kafka_offset".into(), m.offset().to_string());
    if let Some(ms) = m.timestamp().to_millis() {
        meta.insert("kafka_timestamp_unix".into(), (ms / 1000).to_string());
    }
    if let Some(h) = m.headers() {
        for x in h.iter() {
            if let Some(v) = x.value {
                meta.insert(x.key.to_owned(), String::from_utf8_lossy(v).into_owned());
            }
        }
    }
    meta
}

/// Runs the kafka input of stream `id` until `cancel` fires, then waits up
/// to `drain` for in-flight messages and commits what was confirmed.
pub async fn run(s: &Stream, input: &KafkaInput, cancel: CancellationToken, drain: Duration) {
    let (id, output, c, link) = (s.id.as_str(), &s.output, &*s.counters, &s.input_link);
    let received = link.counter(Counter::InputReceived);
    let brokers = broker_list(&input.addresses);
    let consumer: StreamConsumer<QuietContext> = match ClientConfig::new()
        .set("bootstrap.servers", brokers.join(","))
        .set("group.id", &input.consumer_group)
        .set("client.id", &input.client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            if input.start_from_oldest {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("socket.nagle.disable", "true")
        .set("log_level", "3")
        .set_all(&crate::pipeline::config::kafka_security(
            &input.tls,
            &input.sasl,
        ))
        .create_with_context(QuietContext::new(format!("kafka input of {id}")))
    {
        Ok(c) => c,
        Err(e) => {
            link.down();
            tracing::error!(stream = %id, error = %e, "kafka input: invalid consumer settings");
            return;
        }
    };
    let consumer = Arc::new(consumer);
    let topics: Vec<&str> = input.topics.iter().map(String::as_str).collect();
    if let Err(e) = consumer.subscribe(&topics) {
        link.down();
        tracing::error!(stream = %id, error = %e, "kafka input: cannot subscribe");
        return;
    }
    let watching = cancel.child_token();
    let watcher = tokio::spawn(connect::watch_kafka(
        {
            let consumer = consumer.clone();
            Arc::new(move |t| consumer.fetch_metadata(None, t).is_ok())
        },
        link.clone(),
        watching.clone(),
    ));
    tracing::info!(stream = %id, topics = ?input.topics, group = %input.consumer_group, "input connected (kafka)");
    let limit = input.checkpoint_limit.max(1);
    let mut parts: HashMap<(String, i32), Partition> = HashMap::new();
    let mut inflight: JoinSet<(String, i32, i64)> = JoinSet::new();
    let mut tick = tokio::time::interval(input.commit_period.0.max(Duration::from_millis(10)));
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            Some(j) = inflight.join_next(), if !inflight.is_empty() => {
                if let Ok((t, p, o)) = j {
                    c.acked.fetch_add(1, Ordering::Relaxed);
                    if let Some(st) = parts.get_mut(&(t, p)) {
                        st.pending.remove(&o);
                    }
                }
            }
            _ = tick.tick() => commit(&consumer, &mut parts, id, CommitMode::Async),
            m = consumer.recv(), if inflight.len() < limit => match m {
                Ok(m) => {
                    c.received.fetch_add(1, Ordering::Relaxed);
                    received.inc();
                    let (t, p, o) = (m.topic().to_owned(), m.partition(), m.offset());
                    let mut msg = Msg { body: m.payload().unwrap_or_default().to_vec(), meta: metadata(&m) };
                    drop(m);
                    s.processors.apply(&mut msg);
                    let st = parts.entry((t.clone(), p)).or_insert_with(|| Partition { committed: -1, ..Default::default() });
                    st.pending.insert(o);
                    st.next = st.next.max(o + 1);
                    let msg = Arc::new(msg);
                    let first = tokio::select! {
                        d = submit(output, msg.clone()) => d,
                        _ = cancel.cancelled() => { c.abandoned.fetch_add(1, Ordering::Relaxed); break; }
                    };
                    // A failed message is submitted again until it succeeds;
                    // its offset stays uncommitted meanwhile.
                    let out = output.clone();
                    inflight.spawn(async move {
                        retry_forever(out, msg, first, None).await;
                        (t, p, o)
                    });
                }
                Err(e) => {
                    tracing::warn!(stream = %id, error = %e, "kafka input: receive error");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    let deadline = tokio::time::Instant::now() + drain;
    while !inflight.is_empty() {
        match tokio::time::timeout_at(deadline, inflight.join_next()).await {
            Ok(Some(Ok((t, p, o)))) => {
                c.acked.fetch_add(1, Ordering::Relaxed);
                if let Some(st) = parts.get_mut(&(t, p)) {
                    st.pending.remove(&o);
                }
            }
            Ok(_) => {}
            Err(_) => {
                c.abandoned
                    .fetch_add(inflight.len() as u64, Ordering::Relaxed);
                inflight.abort_all();
                break;
            }
        }
    }
    // The last confirmed positions, committed synchronously (never past an
    // unconfirmed message), then the consumer closed, both off the runtime
    // and bounded in time.
    watching.cancel();
    let _ = watcher.await;
    let sid = id.to_owned();
    let closing = tokio::task::spawn_blocking(move || {
        commit(&consumer, &mut parts, &sid, CommitMode::Sync);
        drop(consumer);
    });
    let _ = tokio::time::timeout(Duration::from_secs(10), closing).await;
}
