//! The store and the checks: compiled grants, the enforcement switch, one check's
//! decision and the per-thread publish cache (see [`access`](super) for the rules).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

use regex::bytes::{Regex, RegexBuilder};

use super::{AccessControl, Permissions, PermissionsError, UserRecord};
use crate::broker::error::{ACCESS_REFUSED, BrokerError};
use crate::broker::sync::{read, write};

// ----- matching -----

/// One compiled permission.
#[derive(Debug)]
enum Matcher {
    /// `.*`: every name (never run).
    Any,
    Regex(Regex),
}

impl Matcher {
    fn new(pattern: &str) -> Result<Matcher, String> {
        match pattern {
            ".*" => Ok(Matcher::Any),
            // RabbitMQ reads an empty permission as `^$`.
            "" => Matcher::new("^$"),
            _ => RegexBuilder::new(pattern)
                .unicode(false)
                .build()
                .map(Matcher::Regex)
                .map_err(|e| regex_reason(&e)),
        }
    }

    fn matches(&self, name: &[u8]) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Regex(re) => re.is_match(name),
        }
    }
}

/// The last line of the `regex` crate's error ("unclosed group"), without the
/// pattern it repeats in a diagram.
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(text) => {
            let last = text.lines().last().unwrap_or(text);
            last.strip_prefix("error: ").unwrap_or(last).to_owned()
        }
        other => other.to_string(),
    }
}

/// Checks that `pattern` compiles as a permission; the error is its reason.
pub(crate) fn check_regex(pattern: &str) -> Result<(), String> {
    Matcher::new(pattern).map(|_| ())
}

/// A permission to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Perm {
    Configure,
    Write,
    Read,
}

/// What a permission is checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    Exchange,
    Queue,
}

/// A user's compiled permissions in one vhost.
#[derive(Debug)]
struct Grant {
    permissions: Permissions,
    configure: Matcher,
    write: Matcher,
    read: Matcher,
}

impl Grant {
    fn new(permissions: Permissions) -> Result<Grant, PermissionsError> {
        let compile = |permission: &'static str, pattern: &str| {
            Matcher::new(pattern).map_err(|reason| PermissionsError::InvalidRegex {
                permission,
                pattern: pattern.to_owned(),
                reason,
            })
        };
        Ok(Grant {
            configure: compile("configure", &permissions.configure)?,
            write: compile("write", &permissions.write)?,
            read: compile("read", &permissions.read)?,
            permissions,
        })
    }

    fn allows(&self, perm: Perm, name: &[u8]) -> bool {
        match perm {
            Perm::Configure => &self.configure,
            Perm::Write => &self.write,
            Perm::Read => &self.read,
        }
        .matches(name)
    }
}

// ----- the store -----

/// Ids of stores in this process: the publish cache's key (a broker dropped and
/// another built at the same address must not share entries).
static NEXT_STORE: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<String, UserRecord>,
    /// user -> vhost -> grant. Invariant: every user here is in `users`.
    grants: BTreeMap<String, BTreeMap<String, Grant>>,
}

/// A broker's users, their grants and the enforcement switch.
///
/// Lock order: the broker's vhost map, then this store's lock (a leaf: nothing is
/// locked while it is held).
#[derive(Debug)]
pub(crate) struct Access {
    id: u64,
    enforced: AtomicBool,
    /// Bumped (after the change, under the write lock) whenever a grant changes.
    generation: AtomicU64,
    state: RwLock<State>,
}

impl Access {
    pub(crate) fn new() -> Access {
        Access {
            id: NEXT_STORE.fetch_add(1, Relaxed),
            enforced: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            state: RwLock::new(State::default()),
        }
    }

    pub(crate) fn mode(&self) -> AccessControl {
        match self.enforced.load(Relaxed) {
            true => AccessControl::Enforced,
            false => AccessControl::Unrestricted,
        }
    }

    pub(crate) fn set_mode(&self, mode: AccessControl) {
        self.enforced
            .store(mode == AccessControl::Enforced, Relaxed);
    }

    /// Adds or replaces a user; true if the name is new.
    pub(crate) fn add_user(&self, user: UserRecord) -> bool {
        write(&self.state)
            .users
            .insert(user.name.clone(), user)
            .is_none()
    }

    /// Deletes a user and its grants; true if it existed.
    pub(crate) fn delete_user(&self, name: &str) -> bool {
        let mut st = write(&self.state);
        let existed = st.users.remove(name).is_some();
        if st.grants.remove(name).is_some() {
            self.generation.fetch_add(1, Release);
        }
        existed
    }

    pub(crate) fn user(&self, name: &str) -> Option<UserRecord> {
        read(&self.state).users.get(name).cloned()
    }

    pub(crate) fn users(&self) -> Vec<UserRecord> {
        read(&self.state).users.values().cloned().collect()
    }

    /// Sets a grant; the caller checked that the vhost exists (and holds the vhost
    /// map's lock, so it cannot go meanwhile).
    pub(crate) fn set(
        &self,
        user: &str,
        vhost: &str,
        permissions: Permissions,
    ) -> Result<(), PermissionsError> {
        let grant = Grant::new(permissions)?;
        let mut st = write(&self.state);
        if !st.users.contains_key(user) {
            return Err(PermissionsError::UnknownUser(user.into()));
        }
        st.grants
            .entry(user.into())
            .or_default()
            .insert(vhost.into(), grant);
        self.generation.fetch_add(1, Release);
        Ok(())
    }

    /// Removes a grant; true if there was one.
    pub(crate) fn clear(&self, user: &str, vhost: &str) -> bool {
        let mut st = write(&self.state);
        let Some(by_vhost) = st.grants.get_mut(user) else {
            return false;
        };
        let removed = by_vhost.remove(vhost).is_some();
        if by_vhost.is_empty() {
            st.grants.remove(user);
        }
        if removed {
            self.generation.fetch_add(1, Release);
        }
        removed
    }

    /// Removes every grant on a vhost (it is deleted).
    pub(crate) fn clear_vhost(&self, vhost: &str) {
        let mut st = write(&self.state);
        st.grants.retain(|_, by_vhost| {
            by_vhost.remove(vhost);
            !by_vhost.is_empty()
        });
        self.generation.fetch_add(1, Release);
    }

    /// A user's permissions by vhost.
    pub(crate) fn permissions(&self, user: &str) -> Vec<(String, Permissions)> {
        read(&self.state)
            .grants
            .get(user)
            .map(|by_vhost| {
                by_vhost
                    .iter()
                    .map(|(v, g)| (v.clone(), g.permissions.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `user` may open `vhost`: with access control off always; otherwise if
    /// it has permissions there (any, even all denying), as RabbitMQ.
    pub(crate) fn may_open(&self, user: &str, vhost: &str) -> bool {
        self.mode() == AccessControl::Unrestricted
            || read(&self.state)
                .grants
                .get(user)
                .is_some_and(|g| g.contains_key(vhost))
    }

    /// Whether the grant of `user` in `vhost` allows `perm` on `name` (false
    /// without a grant).
    fn allows(&self, user: &str, vhost: &str, perm: Perm, name: &[u8]) -> bool {
        read(&self.state)
            .grants
            .get(user)
            .and_then(|g| g.get(vhost))
            .is_some_and(|g| g.allows(perm, name))
    }
}

// ----- who asks -----

/// The identity checks are made for: a connection's user and vhost. `access` is
/// `None` for the broker's own connections (a definitions import), which are never
/// checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub(crate) access: Option<&'a Access>,
    pub(crate) user: &'a str,
    pub(crate) vhost: &'a str,
    /// The connection's id (unique within its broker): the publish cache's key.
    pub(crate) conn: u64,
}

/// RabbitMQ's name of a resource in permission checks and their texts: the default
/// exchange is `amq.default`.
fn resource_name(kind: Resource, name: &[u8]) -> &[u8] {
    match (kind, name) {
        (Resource::Exchange, b"") => b"amq.default",
        _ => name,
    }
}

impl Who<'_> {
    /// The store, if this identity is checked now.
    fn enforcing(&self) -> Option<&Access> {
        self.access.filter(|a| a.enforced.load(Relaxed))
    }

    /// Checks `perm` on the exchange or queue `name` (bytes: a dead-letter exchange
    /// named in arguments need not be UTF-8).
    ///
    /// # Errors
    ///
    /// 403 ACCESS_REFUSED (channel), RabbitMQ's text: `access to queue 'q' in vhost
    /// '/' refused for user 'u'`.
    pub(crate) fn check_bytes(
        &self,
        perm: Perm,
        kind: Resource,
        name: &[u8],
    ) -> Result<(), BrokerError> {
        let Some(access) = self.enforcing() else {
            return Ok(());
        };
        let name = resource_name(kind, name);
        if access.allows(self.user, self.vhost, perm, name) {
            return Ok(());
        }
        let kind = match kind {
            Resource::Exchange => "exchange",
            Resource::Queue => "queue",
        };
        Err(BrokerError::channel(
            ACCESS_REFUSED,
            format!(
                "access to {kind} '{}' in vhost '{}' refused for user '{}'",
                String::from_utf8_lossy(name),
                self.vhost,
                self.user
            ),
        ))
    }

    /// [`check_bytes`](Self::check_bytes) of a name.
    pub(crate) fn check(&self, perm: Perm, kind: Resource, name: &str) -> Result<(), BrokerError> {
        self.check_bytes(perm, kind, name.as_bytes())
    }

    /// Checks write on the exchange a message is published to, through the
    /// per-thread cache of grants (see the module docs).
    pub(crate) fn check_publish(&self, exchange: &str) -> Result<(), BrokerError> {
        let Some(access) = self.enforcing() else {
            return Ok(());
        };
        // Read before the check: a change after this read bumps the generation past
        // it, so what is cached under it is looked up no more.
        let generation = access.generation.load(Acquire);
        let key = |s: &Slot| {
            s.store == access.id
                && s.generation == generation
                && s.conn == self.conn
                && *s.exchange == *exchange
        };
        let cached = GRANTED.with(|g| {
            g.try_borrow()
                .is_ok_and(|g| g.slots.iter().flatten().any(key))
        });
        if cached {
            return Ok(());
        }
        self.check(Perm::Write, Resource::Exchange, exchange)?;
        GRANTED.with(|g| {
            if let Ok(mut g) = g.try_borrow_mut() {
                let i = g.next;
                g.next = (i + 1) % SLOTS;
                g.slots[i] = Some(Slot {
                    store: access.id,
                    generation,
                    conn: self.conn,
                    exchange: exchange.into(),
                });
            }
        });
        Ok(())
    }
}

/// Entries of the per-thread publish cache.
const SLOTS: usize = 8;

/// A write grant on an exchange, valid while the store's generation is unchanged.
#[derive(Debug)]
struct Slot {
    store: u64,
    generation: u64,
    conn: u64,
    exchange: Box<str>,
}

/// The per-thread publish cache: the last [`SLOTS`] grants, replaced in turn.
#[derive(Debug)]
struct Granted {
    slots: [Option<Slot>; SLOTS],
    next: usize,
}

thread_local! {
    static GRANTED: RefCell<Granted> = const {
        RefCell::new(Granted {
            slots: [const { None }; SLOTS],
            next: 0,
        })
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(c: &str, w: &str, r: &str) -> Grant {
        Grant::new(Permissions::new(c, w, r)).unwrap()
    }

    #[test]
    fn matching_is_an_unanchored_byte_search() {
        let g = grant("q-", "^app\\.", "");
        for (perm, name, allowed) in [
            (Perm::Configure, "q-1", true),
            (Perm::Configure, "app-q-1", true), // unanchored: found inside
            (Perm::Configure, "q", false),
            (Perm::Write, "app.x", true),
            (Perm::Write, "xapp.x", false),
            (Perm::Write, "appx", false),
            (Perm::Read, "", true), // "" is ^$
            (Perm::Read, "a", false),
        ] {
            assert_eq!(
                g.allows(perm, name.as_bytes()),
                allowed,
                "{perm:?} {name:?}"
            );
        }
        // `.` is one byte (PCRE without Unicode), classes are ASCII.
        let g = grant("^.{2}$", "^\\w+$", "é");
        assert!(g.allows(Perm::Configure, "é".as_bytes()));
        assert!(!g.allows(Perm::Write, "é".as_bytes()));
        assert!(g.allows(Perm::Write, b"a_1"));
        assert!(g.allows(Perm::Read, "caté".as_bytes()));
        assert!(g.allows(Perm::Read, b"\xff\xc3\xa9"));
    }

    #[test]
    fn dot_star_is_never_run() {
        assert!(matches!(Matcher::new(".*"), Ok(Matcher::Any)));
        assert!(matches!(Matcher::new("^.*$"), Ok(Matcher::Regex(_))));
    }

    #[test]
    fn bad_regexes_have_one_line_reasons() {
        for (pattern, reason) in [
            ("(", "unclosed group"),
            ("[a", "unclosed character class"),
            (
                "a{2,1}",
                "invalid repetition count range, the start must be <= the end",
            ),
            (
                "\\",
                "incomplete escape sequence, reached end of pattern prematurely",
            ),
            (
                "(?<=a)b",
                "look-around, including look-ahead and look-behind, is not supported",
            ),
        ] {
            assert_eq!(check_regex(pattern), Err(reason.to_owned()), "{pattern}");
        }
    }

    #[test]
    fn the_default_exchange_is_amq_default() {
        assert_eq!(resource_name(Resource::Exchange, b""), b"amq.default");
        assert_eq!(resource_name(Resource::Queue, b""), b"");
    }
}
