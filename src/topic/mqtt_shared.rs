//! MQTT 5 shared subscriptions: [`MqttSubscription`] (a filter, or `$share/{group}/
//! {filter}`) and [`MqttSubscriptions`], a thin layer over an MQTT [`TopicTrie`] that
//! delivers a message to one member of each matching group, chosen round-robin.
//!
//! MQTT 5 section 4.8.2: a shared subscription is identified by its ShareName and its
//! Topic Filter together; each message matching the filter goes to one session of the
//! group. Which one is the server's choice; here it is round-robin per group, counted
//! with an atomic so routing stays `&self`.

use std::sync::atomic::{AtomicUsize, Ordering};

use hashbrown::HashMap;

use super::mqtt::{self, MqttFilter, MqttFilterError};
use super::{Mqtt, TopicTrie};
use hashbrown::DefaultHashBuilder;

/// One subscription: a plain topic filter, or a shared one (`$share/{group}/{filter}`,
/// MQTT 5 section 4.8.2).
///
/// # Examples
///
/// ```
/// use trackswitch::topic::{MqttFilter, MqttRule, MqttSubscription};
///
/// let s = MqttSubscription::new("$share/workers/jobs/+")?;
/// assert_eq!(s.group(), Some("workers"));
/// assert_eq!(s.filter(), &MqttFilter::new("jobs/+")?);
/// assert_eq!(MqttSubscription::new("jobs/+")?.group(), None);
///
/// let err = MqttSubscription::new("$share/a+b/jobs").unwrap_err();
/// assert_eq!(err.rule(), MqttRule::ShareName); // [MQTT-4.8.2-2]
/// # Ok::<(), trackswitch::topic::MqttFilterError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MqttSubscription {
    /// Every subscriber gets every matching message.
    Plain(MqttFilter),
    /// One member of the group gets each matching message.
    Shared {
        /// The ShareName: at least one character, no `/`, `+` or `#`.
        group: Box<str>,
        /// The filter after `$share/{group}/`.
        filter: MqttFilter,
    },
}

impl MqttSubscription {
    /// Parses a subscription: `$share/{group}/{filter}` is shared, anything else a
    /// plain filter.
    ///
    /// # Errors
    ///
    /// The filter's [`MqttFilterError`]; for a shared subscription also
    /// [`MqttRule::ShareName`](super::MqttRule::ShareName) when the ShareName is empty
    /// or holds `/`, `+` or `#`, or no `/` and filter follow it (MQTT 5
    /// [MQTT-4.8.2-1], [MQTT-4.8.2-2]).
    pub fn new(subscription: impl AsRef<[u8]>) -> Result<MqttSubscription, MqttFilterError> {
        let whole = subscription.as_ref();
        let Some(rest) = whole.strip_prefix(b"$share/") else {
            return MqttFilter::new(whole).map(MqttSubscription::Plain);
        };
        let Some(slash) = rest.iter().position(|&b| b == b'/') else {
            // No "/" and Topic Filter after the ShareName.
            return Err(mqtt::share_name_error(whole));
        };
        let (name, filter) = (&rest[..slash], &rest[slash + 1..]);
        mqtt::check_share_name(whole, name)?;
        let filter = MqttFilter::new(filter).map_err(|e| mqtt::share_filter_error(whole, e))?;
        // The name's own bytes: UTF-8, no null (the filter part passed already).
        MqttFilter::new(whole).map_err(|e| mqtt::share_filter_error(whole, e))?;
        let group = std::str::from_utf8(name).expect("checked as UTF-8 with the whole");
        Ok(MqttSubscription::Shared {
            group: group.into(),
            filter,
        })
    }

    /// The topic filter (after `$share/{group}/` for a shared subscription).
    pub fn filter(&self) -> &MqttFilter {
        match self {
            MqttSubscription::Plain(f) | MqttSubscription::Shared { filter: f, .. } => f,
        }
    }

    /// The ShareName of a shared subscription.
    pub fn group(&self) -> Option<&str> {
        match self {
            MqttSubscription::Plain(_) => None,
            MqttSubscription::Shared { group, .. } => Some(group),
        }
    }
}

/// What the trie holds for a subscription.
#[derive(Debug, Clone, PartialEq)]
enum Target<C> {
    Client(C),
    /// Index into `MqttSubscriptions::groups`.
    Group(u32),
}

#[derive(Debug)]
struct Group<C> {
    /// Never empty; distinct; in the order they joined.
    members: Vec<C>,
    /// The next member to deliver to, modulo `members.len()`.
    next: AtomicUsize,
}

/// MQTT subscriptions with shared groups: who gets a message published to a topic.
///
/// Plain subscriptions deliver to their client; each matching shared group
/// (`$share/{group}/{filter}`) delivers to one of its members, round-robin. A client
/// subscribed under two matching filters appears twice (MQTT 5 section 4.8.2 lets the
/// server deliver overlapping subscriptions separately; de-duplicate if you want one
/// copy).
///
/// # Examples
///
/// ```
/// use trackswitch::topic::{MqttSubscription, MqttSubscriptions};
///
/// let mut subs = MqttSubscriptions::new();
/// let shared = MqttSubscription::new("$share/workers/jobs/#")?;
/// subs.insert(&shared, "w1");
/// subs.insert(&shared, "w2");
/// subs.insert(&MqttSubscription::new("jobs/+")?, "auditor");
///
/// let mut first = subs.route("jobs/print");
/// first.sort();
/// assert_eq!(first, ["auditor", "w1"]);
/// let mut second = subs.route("jobs/print");
/// second.sort();
/// assert_eq!(second, ["auditor", "w2"]); // the group's next member
/// # Ok::<(), trackswitch::topic::MqttFilterError>(())
/// ```
#[derive(Debug)]
pub struct MqttSubscriptions<C> {
    /// Plain subscriptions hold `Client`, each shared group one `Group` under its filter.
    trie: TopicTrie<Target<C>, DefaultHashBuilder, Mqtt>,
    /// Group slots; `None` is free (and on `free`).
    groups: Vec<Option<Group<C>>>,
    free: Vec<u32>,
    /// (ShareName, filter) -> index into `groups`, for every live group.
    ids: HashMap<(Box<str>, MqttFilter), u32>,
    /// Number of (subscription, client) pairs.
    len: usize,
}

impl<C> Default for MqttSubscriptions<C> {
    fn default() -> Self {
        MqttSubscriptions {
            trie: TopicTrie::with_dialect(Mqtt),
            groups: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            len: 0,
        }
    }
}

impl<C: Clone + PartialEq> MqttSubscriptions<C> {
    /// No subscription.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of (subscription, client) pairs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Subscribes `client`. Returns false (changing nothing) if it already holds this
    /// subscription.
    pub fn insert(&mut self, subscription: &MqttSubscription, client: C) -> bool {
        let added = match subscription {
            MqttSubscription::Plain(f) => self.trie.insert(f, Target::Client(client)),
            MqttSubscription::Shared { group, filter } => {
                let key = (group.clone(), filter.clone());
                if let Some(&id) = self.ids.get(&key) {
                    let g = self.groups[id as usize].as_mut().expect("live group id");
                    if g.members.contains(&client) {
                        return false;
                    }
                    g.members.push(client);
                    true
                } else {
                    let g = Group {
                        members: vec![client],
                        next: AtomicUsize::new(0),
                    };
                    let id = match self.free.pop() {
                        Some(id) => {
                            self.groups[id as usize] = Some(g);
                            id
                        }
                        None => {
                            self.groups.push(Some(g));
                            u32::try_from(self.groups.len() - 1).expect("fewer than 2^32 groups")
                        }
                    };
                    self.ids.insert(key, id);
                    self.trie.insert(filter, Target::Group(id))
                }
            }
        };
        self.len += usize::from(added);
        added
    }

    /// Unsubscribes `client`. Returns whether it held this subscription.
    pub fn remove(&mut self, subscription: &MqttSubscription, client: &C) -> bool {
        let removed = match subscription {
            MqttSubscription::Plain(f) => self.trie.remove(f, &Target::Client(client.clone())),
            MqttSubscription::Shared { group, filter } => {
                let key = (group.clone(), filter.clone());
                let Some(&id) = self.ids.get(&key) else {
                    return false;
                };
                let g = self.groups[id as usize].as_mut().expect("live group id");
                let Some(i) = g.members.iter().position(|m| m == client) else {
                    return false;
                };
                g.members.remove(i);
                if g.members.is_empty() {
                    self.groups[id as usize] = None;
                    self.free.push(id);
                    self.ids.remove(&key);
                    assert!(
                        self.trie.remove(filter, &Target::Group(id)),
                        "a group is in the trie"
                    );
                }
                true
            }
        };
        self.len -= usize::from(removed);
        removed
    }

    /// Appends who gets a message published to `topic`: every plain subscriber, and
    /// one member of each matching shared group (round-robin). Nothing when `topic`
    /// is not a valid topic name.
    pub fn route_into(&self, topic: impl AsRef<[u8]>, out: &mut Vec<C>) {
        self.trie.route_with(topic, |_, targets| {
            for t in targets {
                match t {
                    Target::Client(c) => out.push(c.clone()),
                    Target::Group(id) => {
                        let g = self.groups[*id as usize].as_ref().expect("live group id");
                        let i = g.next.fetch_add(1, Ordering::Relaxed) % g.members.len();
                        out.push(g.members[i].clone());
                    }
                }
            }
        });
    }

    /// [`route_into`](Self::route_into) a new vector.
    pub fn route(&self, topic: impl AsRef<[u8]>) -> Vec<C> {
        let mut out = Vec::new();
        self.route_into(topic, &mut out);
        out
    }

    /// Checks the structure's invariants (for tests).
    ///
    /// # Panics
    ///
    /// If a group is empty, a live group is missing from the trie or the index, or
    /// the count is wrong.
    pub fn check_invariants(&self) {
        self.trie.check_invariants();
        let mut pairs = 0;
        for (_, t) in self.trie.iter() {
            match t {
                Target::Client(_) => pairs += 1,
                Target::Group(id) => {
                    let g = self.groups[*id as usize]
                        .as_ref()
                        .expect("trie names a live group");
                    assert!(!g.members.is_empty(), "empty group");
                    pairs += g.members.len();
                }
            }
        }
        assert_eq!(pairs, self.len, "pair count out of date");
        let live = self.groups.iter().filter(|g| g.is_some()).count();
        assert_eq!(live, self.ids.len(), "group index out of date");
        assert_eq!(
            live + self.free.len(),
            self.groups.len(),
            "group slots lost"
        );
    }
}
