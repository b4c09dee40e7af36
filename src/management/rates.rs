//! Message rates: the broker counts messages (per queue and per vhost); a sampler
//! reads the counts every [`INTERVAL`] and keeps, per object, the rate over the last
//! interval, as RabbitMQ's `basic` rates mode reports `*_details.rate`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::broker::{Broker, QueueInfo, VhostInfo};

/// How often counts are sampled (RabbitMQ's `collect_statistics_interval`, 5 s).
pub(super) const INTERVAL: Duration = Duration::from_secs(5);

/// The counters of a queue, a vhost or the whole broker, in this order.
pub(super) const COUNTERS: [&str; 6] = [
    "publish",
    "deliver_get",
    "ack",
    "redeliver",
    "drop_unroutable",
    "return_unroutable",
];

/// Counts in [`COUNTERS`] order.
pub(super) type Counts = [u64; COUNTERS.len()];

/// What a rate is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Queue(String, String),
    Vhost(String),
    Broker,
}

#[derive(Debug)]
struct Sample {
    at: Instant,
    counts: Counts,
    rates: [f64; COUNTERS.len()],
}

/// The last sample of every object and its rates.
#[derive(Debug, Default)]
pub(super) struct Rates {
    samples: HashMap<Key, Sample>,
}

/// A queue's counts.
pub(super) fn queue_counts(q: &QueueInfo) -> Counts {
    [q.published, q.delivered, q.acked, q.redelivered, 0, 0]
}

/// A vhost's counts: its own publish and unroutable counters, and the sums of its
/// queues' delivery counters.
pub(super) fn vhost_counts(v: &VhostInfo, queues: &[QueueInfo]) -> Counts {
    let mut c = [
        v.published,
        0,
        0,
        0,
        v.unroutable.saturating_sub(v.returned),
        v.returned,
    ];
    for q in queues {
        let qc = queue_counts(q);
        for i in 1..4 {
            c[i] += qc[i];
        }
    }
    c
}

/// Every count of `broker`: each queue's, each vhost's and the whole broker's.
pub(super) fn collect(broker: &Broker) -> Vec<(Key, Counts)> {
    let mut out = Vec::new();
    let mut total = [0u64; COUNTERS.len()];
    for vhost in broker.vhosts() {
        let (Ok(info), Ok(queues)) = (broker.vhost_info(&vhost), broker.queues(&vhost)) else {
            continue; // deleted meanwhile
        };
        for q in &queues {
            out.push((Key::Queue(vhost.clone(), q.name.clone()), queue_counts(q)));
        }
        let counts = vhost_counts(&info, &queues);
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
        out.push((Key::Vhost(vhost), counts));
    }
    out.push((Key::Broker, total));
    out
}

impl Rates {
    /// Reads every count of `broker` and updates the rates.
    #[cfg(test)]
    pub(super) fn sample(&mut self, broker: &Broker) {
        self.update(collect(broker));
    }

    /// Records counts read by [`collect`]; objects not among them are forgotten.
    pub(super) fn update(&mut self, counts: Vec<(Key, Counts)>) {
        let now = Instant::now();
        let mut seen = std::collections::HashSet::new();
        for (key, c) in counts {
            seen.insert(key.clone());
            self.record(key, c, now);
        }
        self.samples.retain(|k, _| seen.contains(k));
    }

    fn record(&mut self, key: Key, counts: Counts, now: Instant) {
        let rates = match self.samples.get(&key) {
            Some(prev) => {
                let dt = now.duration_since(prev.at).as_secs_f64();
                let mut r = [0.0; COUNTERS.len()];
                if dt > 0.0 {
                    for (i, rate) in r.iter_mut().enumerate() {
                        *rate = counts[i].saturating_sub(prev.counts[i]) as f64 / dt;
                    }
                }
                r
            }
            None => [0.0; COUNTERS.len()],
        };
        self.samples.insert(
            key,
            Sample {
                at: now,
                counts,
                rates,
            },
        );
    }

    /// The rates of an object over the last interval (zeros before two samples).
    pub(super) fn of(&self, key: &Key) -> [f64; COUNTERS.len()] {
        self.samples
            .get(key)
            .map_or([0.0; COUNTERS.len()], |s| s.rates)
    }
}

/// `message_stats` as RabbitMQ writes it: each count of `which` (indexes into
/// [`COUNTERS`]) and its `_details.rate`.
pub(super) fn message_stats(
    counts: &Counts,
    rates: &[f64; COUNTERS.len()],
    which: &[usize],
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for &i in which {
        m.insert(COUNTERS[i].into(), counts[i].into());
        m.insert(
            format!("{}_details", COUNTERS[i]),
            serde_json::json!({ "rate": rates[i] }),
        );
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{Message, PublishOptions, QueueDeclare};

    #[test]
    fn rates_are_counts_over_the_interval() {
        let broker = Broker::new();
        let conn = broker.connect_default();
        let ch = conn.open_channel().unwrap();
        ch.queue_declare("q", &QueueDeclare::default()).unwrap();
        let mut rates = Rates::default();
        rates.sample(&broker);
        let key = Key::Queue("/".into(), "q".into());
        assert_eq!(rates.of(&key), [0.0; 6]);
        for _ in 0..10 {
            ch.publish("", "q", Message::new("x"), PublishOptions::default())
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        rates.sample(&broker);
        let r = rates.of(&key);
        assert!(r[0] > 0.0 && r[1] == 0.0, "{r:?}");
        assert!(rates.of(&Key::Vhost("/".into()))[0] > 0.0);
        assert!(rates.of(&Key::Broker)[0] > 0.0);
        ch.queue_delete("q", false, false).unwrap();
        rates.sample(&broker);
        assert_eq!(rates.of(&key), [0.0; 6], "forgotten once deleted");
    }
}
