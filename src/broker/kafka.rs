//! Kafka through librdkafka's metadata and group APIs (the `rdkafka`
//! crate; no Kafka CLI): per topic, whether it exists, its partitions with
//! their low and high watermarks (the high one = the end offset, where the
//! next record goes), how far they grew since the previous snapshot, and
//! every consumer group that has committed offsets on the topic, with its
//! committed offset and lag (high watermark − committed) per partition.
//!
//! Every call blocks (up to [`META_TIMEOUT`] each): run [`Watcher::views`]
//! in `tokio::task::spawn_blocking`. Committed offsets are read with one
//! client per group that never joins the group (an OffsetFetch, like
//! `kafka-consumer-groups --describe`), so watching disturbs no one.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::kafka::KafkaEndpoint;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

/// Timeout of one metadata, watermark, group list or offset request.
pub const META_TIMEOUT: Duration = Duration::from_secs(2);
/// Most consumer groups whose offsets are read per snapshot (by name); the
/// others are counted in [`TopicView::groups_not_checked`].
pub const MAX_GROUPS: usize = 32;

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionView {
    /// The partition id.
    pub partition: i32,
    /// The first offset still kept.
    pub low: i64,
    /// The end offset: the offset the next record gets.
    pub high: i64,
    /// Records appended since the previous snapshot (`high` growth);
    /// `None` on the first snapshot of the partition.
    pub growth: Option<i64>,
}

/// A consumer group's position on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPartition {
    /// The partition id.
    pub partition: i32,
    /// The committed offset (the next record the group will read);
    /// `None` = nothing committed on this partition.
    pub committed: Option<i64>,
    /// Records behind the end: high watermark − committed (never < 0);
    /// `None` when nothing is committed.
    pub lag: Option<i64>,
}

/// A consumer group with committed offsets on the topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupView {
    /// The group id.
    pub group: String,
    /// The coordinator's state: `Stable`, `Empty`, `PreparingRebalance`, ...
    pub state: String,
    /// Members right now (0 for a group whose consumers left).
    pub members: usize,
    /// Every partition of the topic, by id.
    pub partitions: Vec<GroupPartition>,
    /// Sum of the partitions' known lags, in records.
    pub lag: i64,
}

/// What the broker view knows about one Kafka topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicView {
    /// The topic name.
    pub topic: String,
    /// The bootstrap servers asked.
    pub brokers: String,
    /// `Some(false)` = the cluster has no such topic; `None` = could not ask.
    pub exists: Option<bool>,
    /// By partition id; empty unless the topic exists.
    pub partitions: Vec<PartitionView>,
    /// Sum of the partitions' growth since the previous snapshot, in records.
    pub growth: Option<i64>,
    /// `growth` per second of time between the two snapshots.
    pub growth_per_s: Option<f64>,
    /// Seconds for which the end offsets have not moved, counted from the
    /// first snapshot that saw them at today's values (so at most the time
    /// this process has watched the topic); `None` while unknown.
    pub unchanged_for_s: Option<f64>,
    /// Groups with a committed offset on at least one partition, by name.
    pub groups: Vec<GroupView>,
    /// Groups of the cluster whose offsets were not read (over [`MAX_GROUPS`]).
    pub groups_not_checked: usize,
    /// Why figures are missing (cluster unreachable, a request timed out),
    /// one line.
    pub error: Option<String>,
}

impl TopicView {
    /// Sum of the end offsets of all partitions.
    pub fn end_offset_total(&self) -> i64 {
        self.partitions.iter().map(|p| p.high).sum()
    }
}

type Client = BaseConsumer<DefaultConsumerContext>;

/// Watches topics of one Kafka cluster across snapshots.
pub struct Watcher {
    kafka: KafkaEndpoint,
    meta: Option<Client>,
    /// One offset reader per group (group.id = the group; never joins).
    readers: HashMap<String, Client>,
    /// Previous snapshot per topic: when, and each partition's high watermark.
    prev: HashMap<String, (Instant, BTreeMap<i32, i64>)>,
    /// Per topic: the high watermarks last seen change, and since when.
    still: HashMap<String, (BTreeMap<i32, i64>, Instant)>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("kafka", &self.kafka)
            .field("groups", &self.readers.len())
            .finish_non_exhaustive()
    }
}

fn client(kafka: &KafkaEndpoint, group: &str) -> Result<Client, KafkaError> {
    kafka
        .config(&[
            ("group.id", group),
            ("client.id", "streamprobe-broker-view"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("socket.timeout.ms", "3000"),
            ("reconnect.backoff.max.ms", "2000"),
            ("log_level", "3"),
        ])
        .create()
}

impl Watcher {
    /// A watcher of the cluster at `kafka`; it connects on first use.
    pub fn new(kafka: &KafkaEndpoint) -> Watcher {
        Watcher {
            kafka: kafka.clone(),
            meta: None,
            readers: HashMap::new(),
            prev: HashMap::new(),
            still: HashMap::new(),
        }
    }

    /// The cluster watched.
    pub fn kafka(&self) -> &KafkaEndpoint {
        &self.kafka
    }

    /// Blocking: one view per topic (in order), `now` = the snapshot's instant.
    /// Never fails: what could not be read is said in [`TopicView::error`].
    pub fn views(&mut self, topics: &[String], now: Instant) -> Vec<TopicView> {
        let mut views: Vec<TopicView> = topics.iter().map(|t| self.empty(t)).collect();
        if self.meta.is_none() {
            let group = format!("streamprobe-broker-view-{}", std::process::id());
            match client(&self.kafka, &group) {
                Ok(c) => self.meta = Some(c),
                Err(e) => {
                    let line = format!("Kafka {}: {e}", self.kafka);
                    for v in &mut views {
                        v.error = Some(line.clone());
                    }
                    return views;
                }
            }
        }
        let Some(meta) = &self.meta else {
            return views;
        };
        // serve queued callbacks (errors, logs): nothing is assigned
        let _ = meta.poll(Duration::ZERO);
        for v in &mut views {
            if let Err(e) = partitions(meta, v) {
                let line = format!("Kafka {}: {e}", self.kafka);
                // the cluster does not answer: the other topics would wait too
                for w in views.iter_mut().filter(|w| w.exists.is_none()) {
                    w.error = Some(line.clone());
                }
                return views;
            }
        }
        for v in &mut views {
            let prev = self.prev.get(&v.topic);
            let mut highs = BTreeMap::new();
            for p in &mut v.partitions {
                p.growth = prev
                    .and_then(|(_, m)| m.get(&p.partition))
                    .map(|h| p.high - h);
                highs.insert(p.partition, p.high);
            }
            if let Some((then, _)) = prev {
                if v.partitions.iter().all(|p| p.growth.is_some()) && !v.partitions.is_empty() {
                    let g: i64 = v.partitions.iter().filter_map(|p| p.growth).sum();
                    let secs = now.saturating_duration_since(*then).as_secs_f64();
                    v.growth = Some(g);
                    v.growth_per_s = (secs > 0.0).then(|| g as f64 / secs);
                }
            }
            if v.exists == Some(true) {
                let since = match self.still.get(&v.topic) {
                    Some((h, since)) if *h == highs => *since,
                    _ => {
                        self.still.insert(v.topic.clone(), (highs.clone(), now));
                        now
                    }
                };
                v.unchanged_for_s = Some(now.saturating_duration_since(since).as_secs_f64());
                self.prev.insert(v.topic.clone(), (now, highs));
            }
        }
        if let Err(e) = self.groups(&mut views) {
            let line = format!("Kafka {}: consumer groups: {e}", self.kafka);
            for v in &mut views {
                v.error.get_or_insert_with(|| line.clone());
            }
        }
        views
    }

    fn empty(&self, topic: &str) -> TopicView {
        TopicView {
            topic: topic.to_owned(),
            brokers: self.kafka.brokers.clone(),
            exists: None,
            partitions: Vec::new(),
            growth: None,
            growth_per_s: None,
            unchanged_for_s: None,
            groups: Vec::new(),
            groups_not_checked: 0,
            error: None,
        }
    }

    /// Reads every group's committed offsets on the existing topics of `views`.
    fn groups(&mut self, views: &mut [TopicView]) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for v in views.iter().filter(|v| v.exists == Some(true)) {
            for p in &v.partitions {
                tpl.add_partition(&v.topic, p.partition);
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        let Some(meta) = &self.meta else {
            return Ok(());
        };
        let list = meta.fetch_group_list(None, META_TIMEOUT)?;
        let mut groups: Vec<(String, String, usize)> = list
            .groups()
            .iter()
            .map(|g| (g.name().to_owned(), g.state().to_owned(), g.members().len()))
            .collect();
        groups.sort();
        let not_checked = groups.len().saturating_sub(MAX_GROUPS);
        groups.truncate(MAX_GROUPS);
        self.readers
            .retain(|name, _| groups.iter().any(|(g, ..)| g == name));
        for v in views.iter_mut() {
            v.groups_not_checked = not_checked;
        }
        for (name, state, members) in groups {
            if !self.readers.contains_key(&name) {
                self.readers
                    .insert(name.clone(), client(&self.kafka, &name)?);
            }
            let Some(reader) = self.readers.get(&name) else {
                continue;
            };
            let _ = reader.poll(Duration::ZERO);
            let committed = reader.committed_offsets(tpl.clone(), META_TIMEOUT)?;
            for v in views.iter_mut().filter(|v| v.exists == Some(true)) {
                let mut parts = Vec::new();
                for p in &v.partitions {
                    let c = committed
                        .find_partition(&v.topic, p.partition)
                        .and_then(|e| match e.offset() {
                            Offset::Offset(n) if n >= 0 => Some(n),
                            _ => None,
                        });
                    parts.push(GroupPartition {
                        partition: p.partition,
                        committed: c,
                        lag: c.map(|c| (p.high - c).max(0)),
                    });
                }
                if parts.iter().any(|p| p.committed.is_some()) {
                    v.groups.push(GroupView {
                        group: name.clone(),
                        state: state.clone(),
                        members,
                        lag: parts.iter().filter_map(|p| p.lag).sum(),
                        partitions: parts,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Fills `v.exists` and `v.partitions` (watermarks) from the cluster.
fn partitions(c: &Client, v: &mut TopicView) -> Result<(), KafkaError> {
    let md = c.fetch_metadata(Some(&v.topic), META_TIMEOUT)?;
    let Some(t) = md.topics().iter().find(|t| t.name() == v.topic) else {
        v.exists = Some(false);
        return Ok(());
    };
    match t.error().map(RDKafkaErrorCode::from) {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
            v.exists = Some(false);
            return Ok(());
        }
        Some(e) => return Err(KafkaError::MetadataFetch(e)),
        None => {}
    }
    v.exists = Some(!t.partitions().is_empty());
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    for id in ids {
        let (low, high) = c.fetch_watermarks(&v.topic, id, META_TIMEOUT)?;
        v.partitions.push(PartitionView {
            partition: id,
            low,
            high,
            growth: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    /// librdkafka's in-process mock cluster (fast; the end-to-end test runs
    /// on real Kafka): watermarks and growth.
    #[test]
    fn watermarks_and_growth_on_a_mock_cluster() {
        let mock = MockCluster::new(1).unwrap();
        mock.create_topic("t3", 3, 1).unwrap();
        let brokers = mock.bootstrap_servers();
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .unwrap();
        for i in 0..9 {
            producer
                .send(
                    BaseRecord::<(), str>::to("t3")
                        .payload("x")
                        .partition(i % 3),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(5)).unwrap();

        let mut w = Watcher::new(&KafkaEndpoint::plain(brokers));
        let t0 = Instant::now();
        let topics = vec!["t3".to_owned(), "absent".to_owned()];
        let v = w.views(&topics, t0);
        assert_eq!(v[0].exists, Some(true), "{:?}", v[0]);
        assert_eq!(
            v[0].partitions
                .iter()
                .map(|p| (p.partition, p.low, p.high))
                .collect::<Vec<_>>(),
            [(0, 0, 3), (1, 0, 3), (2, 0, 3)]
        );
        assert_eq!((v[0].growth, v[0].end_offset_total()), (None, 9));
        assert_eq!(v[1].exists, Some(false));
        assert!(v[0].groups.is_empty());

        producer
            .send(BaseRecord::<(), str>::to("t3").payload("y").partition(0))
            .unwrap();
        producer.flush(Duration::from_secs(5)).unwrap();
        let v = w.views(&topics, t0 + Duration::from_secs(2));
        assert_eq!(v[0].growth, Some(1));
        assert_eq!(v[0].growth_per_s, Some(0.5));
        assert_eq!(v[0].partitions[0].growth, Some(1));
        assert_eq!(v[0].partitions[1].growth, Some(0));
        assert_eq!(v[0].unchanged_for_s, Some(0.0));
        // nothing new: the still time counts from the snapshot that saw the change
        let v = w.views(&topics, t0 + Duration::from_secs(5));
        assert_eq!((v[0].growth, v[0].unchanged_for_s), (Some(0), Some(3.0)));
        assert_eq!(v[1].unchanged_for_s, None);
        // the mock cluster has no ListGroups: the offsets stay, the error
        // says what is missing (group lag is tested on real Kafka,
        // tests/e2e_broker.rs)
        let e = v[0].error.as_deref().unwrap_or_default();
        assert!(e.contains("consumer groups"), "{:?}", v[0]);
    }

    #[test]
    fn an_unreachable_cluster_is_said_in_one_line() {
        let mut w = Watcher::new(&KafkaEndpoint::plain("127.0.0.1:1"));
        let v = w.views(&["t".to_owned()], Instant::now());
        assert_eq!(v[0].exists, None);
        let e = v[0].error.as_deref().unwrap();
        assert!(
            e.starts_with("Kafka 127.0.0.1:1: ") && !e.contains('\n'),
            "{e}"
        );
    }
}
