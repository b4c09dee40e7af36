//! Users and permissions: the broker's user store and RabbitMQ's configure / write /
//! read regexes per user and vhost, and the checks the broker's operations make.
//!
//! This file owns the public face: [`Permissions`], [`UserRecord`],
//! [`AccessControl`], [`PermissionsError`] and the [`Broker`] methods that manage
//! them; `store` owns the store (users, compiled grants, the enforcement switch),
//! one check's decision and the publish cache. Which operation checks what, and in
//! which order against its other refusals, is the caller's (channel and vhost
//! code), as RabbitMQ 3.10.8 does it (`docs/rabbitmq-3.10.8-wire-facts.md`,
//! "Permissions"); the table is on [`Broker::set_permissions`].
//!
//! # Matching
//!
//! A permission is a regex searched for, unanchored, in the resource's name (Erlang's
//! `re:run(Name, RE, [{capture, none}])`): `.*` allows everything, `^$` and the empty
//! string (RabbitMQ reads `""` as `^$`) deny everything, `^app\.` allows names
//! starting with `app.`. Names are matched as bytes and classes are ASCII (as PCRE
//! without its Unicode option). The default exchange is named `amq.default` for
//! permissions, as in RabbitMQ. Regexes use the `regex` crate's syntax, which lacks
//! PCRE's lookaround and backreferences: such a pattern is refused when it is set.
//!
//! # Cost
//!
//! A check takes the store's read lock and runs at most one regex (`.*` is
//! recognised and never run). Publishing, the hot path, checks through a small
//! per-thread cache of grants: (store, generation, connection, exchange). Every
//! change of a grant bumps the store's generation, so a cached grant is never used
//! after a change; in the common case a publish takes no lock and runs no regex, and
//! with access control off it costs one atomic load.

use std::fmt;

use super::Broker;
use super::sync::read;

mod store;

pub(crate) use store::{Access, Perm, Resource, Who, check_regex};

/// A user's configure, write and read permissions in one vhost: regexes matched
/// against the names of the exchanges and queues an operation touches (see
/// [`Broker::set_permissions`](super::Broker::set_permissions) for which operation
/// needs which).
///
/// Each is searched for anywhere in the name (unanchored, as RabbitMQ's `re:run`):
/// `.*` allows everything; `^$` and `""` deny everything; anchor with `^` and `$`.
///
/// With the `serde` feature, a map of its fields by name.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::Permissions;
///
/// let all = Permissions::all();
/// assert_eq!(all.configure, ".*");
/// // Declare and delete only `app.` queues and exchanges, publish anywhere, consume
/// // nothing: RabbitMQ's `set_permissions -p / u '^app\.' '.*' '^$'`.
/// let p = Permissions::new(r"^app\.", ".*", "^$");
/// assert_eq!(p.read, "^$");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Permissions {
    /// Declaring and deleting exchanges and queues.
    pub configure: String,
    /// Publishing to an exchange; being the destination of a binding.
    pub write: String,
    /// Consuming, getting and purging a queue; being the source of a binding.
    pub read: String,
}

impl Permissions {
    /// Permissions from three regexes, in RabbitMQ's order (configure, write, read).
    pub fn new(
        configure: impl Into<String>,
        write: impl Into<String>,
        read: impl Into<String>,
    ) -> Permissions {
        Permissions {
            configure: configure.into(),
            write: write.into(),
            read: read.into(),
        }
    }

    /// `.*` for all three: everything in the vhost (what RabbitMQ gives its default
    /// user on `/`).
    pub fn all() -> Permissions {
        Permissions::new(".*", ".*", ".*")
    }
}

/// Whether a [`Broker`](super::Broker) checks permissions.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{AccessControl, Broker, ConnectOptions, Permissions, UserRecord};
///
/// let broker = Broker::new();
/// // Unrestricted (the default): every connection opens every vhost and may do anything.
/// assert_eq!(broker.access_control(), AccessControl::Unrestricted);
/// let app = ConnectOptions { user: "app".into(), ..ConnectOptions::default() };
/// assert!(broker.connect(app.clone()).is_ok());
///
/// broker.set_access_control(AccessControl::Enforced);
/// let err = broker.connect(app.clone()).unwrap_err();
/// assert_eq!(err.reply_code(), 530);
/// assert_eq!(err.to_string(), "NOT_ALLOWED - access to vhost '/' refused for user 'app'");
///
/// broker.add_user(UserRecord::new("app", ""));
/// broker.set_permissions("app", "/", Permissions::all()).unwrap();
/// assert!(broker.connect(app).is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AccessControl {
    /// No checks: every connection opens every vhost and may do anything (the
    /// default, for embedders who control access themselves).
    #[default]
    Unrestricted,
    /// RabbitMQ's checks: a connection opens a vhost only if its user has
    /// permissions there, and every operation is checked against them.
    Enforced,
}

/// A user of the broker's user store ([`Broker::add_user`](super::Broker::add_user)):
/// what RabbitMQ's definitions hold of a user.
///
/// The broker stores the password hash and never reads it; the wire server verifies
/// passwords against it. `Debug` leaves the hash out.
///
/// With the `serde` feature, a map of its fields by name.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{Broker, UserRecord};
///
/// let broker = Broker::new();
/// let mut app = UserRecord::new("app", "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR");
/// app.tags = vec!["monitoring".into()];
/// assert!(broker.add_user(app.clone()));
/// assert_eq!(broker.user("app"), Some(app));
/// assert_eq!(broker.users()[0].hashing_algorithm, UserRecord::SHA256);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UserRecord {
    /// The user name.
    pub name: String,
    /// The password hash as RabbitMQ's definitions write it: for
    /// `rabbit_password_hashing_sha256`, `base64(salt4 ++ sha256(salt4 ++ password))`.
    /// Empty: no password login.
    pub password_hash: String,
    /// RabbitMQ's name of the hash's algorithm: [`UserRecord::SHA256`] (the default),
    /// `rabbit_password_hashing_sha512` or `rabbit_password_hashing_md5`.
    pub hashing_algorithm: String,
    /// Tags (`administrator`, `monitoring`, ...): kept and exported, not interpreted.
    pub tags: Vec<String>,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("name", &self.name)
            .field("hashing_algorithm", &self.hashing_algorithm)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

impl UserRecord {
    /// RabbitMQ's default hashing algorithm, `rabbit_password_hashing_sha256`.
    pub const SHA256: &'static str = "rabbit_password_hashing_sha256";

    /// The hashing algorithms RabbitMQ 3.10.8 has (its module names).
    pub(crate) const ALGORITHMS: [&'static str; 3] = [
        UserRecord::SHA256,
        "rabbit_password_hashing_sha512",
        "rabbit_password_hashing_md5",
    ];

    /// A user with a [`SHA256`](Self::SHA256) hash and no tags.
    pub fn new(name: impl Into<String>, password_hash: impl Into<String>) -> UserRecord {
        UserRecord {
            name: name.into(),
            password_hash: password_hash.into(),
            hashing_algorithm: UserRecord::SHA256.into(),
            tags: Vec::new(),
        }
    }
}

/// Why [`Broker::set_permissions`](super::Broker::set_permissions) refused.
///
/// # Examples
///
/// ```
/// use trackswitch::broker::{Broker, Permissions, PermissionsError, UserRecord};
///
/// let broker = Broker::new();
/// let err = broker.set_permissions("app", "/", Permissions::all()).unwrap_err();
/// assert_eq!(err, PermissionsError::UnknownUser("app".into()));
/// assert_eq!(err.to_string(), "user 'app' does not exist");
///
/// broker.add_user(UserRecord::new("app", ""));
/// let err = broker.set_permissions("app", "/", Permissions::new("(", ".*", ".*")).unwrap_err();
/// assert_eq!(err.to_string(), "invalid configure regex '(': unclosed group");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionsError {
    /// The user is not in the broker's user store.
    UnknownUser(String),
    /// The vhost does not exist.
    UnknownVhost(String),
    /// A regex does not compile.
    InvalidRegex {
        /// Which permission: `configure`, `write` or `read`.
        permission: &'static str,
        /// The pattern.
        pattern: String,
        /// Why it does not compile.
        reason: String,
    },
}

impl fmt::Display for PermissionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PermissionsError::UnknownUser(u) => write!(f, "user '{u}' does not exist"),
            PermissionsError::UnknownVhost(v) => write!(f, "vhost '{v}' does not exist"),
            PermissionsError::InvalidRegex {
                permission,
                pattern,
                reason,
            } => write!(f, "invalid {permission} regex '{pattern}': {reason}"),
        }
    }
}

impl std::error::Error for PermissionsError {}

impl Broker {
    /// Whether permissions are checked (see [`AccessControl`]; default
    /// [`Unrestricted`](AccessControl::Unrestricted)).
    pub fn access_control(&self) -> AccessControl {
        self.inner.access.mode()
    }

    /// Turns permission checks on or off, for every connection at once (open ones
    /// included). The wire server turns them on when it starts.
    pub fn set_access_control(&self, mode: AccessControl) {
        self.inner.access.set_mode(mode);
    }

    /// Adds a user to the user store, or replaces the password hash, algorithm and
    /// tags of the user of that name (its permissions stay). Returns whether the name
    /// is new.
    pub fn add_user(&self, user: UserRecord) -> bool {
        self.record(|| super::store::defs::Op::User(user.clone()));
        self.inner.access.add_user(user)
    }

    /// Deletes a user and its permissions in every vhost; returns whether it existed.
    /// Its open connections stay open; with access control on, their checks fail from
    /// now on (403), as RabbitMQ's.
    pub fn delete_user(&self, name: &str) -> bool {
        let existed = self.inner.access.delete_user(name);
        if existed {
            self.record(|| super::store::defs::Op::UserDel(name.into()));
        }
        existed
    }

    /// The user of that name.
    pub fn user(&self, name: &str) -> Option<UserRecord> {
        self.inner.access.user(name)
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Vec<UserRecord> {
        self.inner.access.users()
    }

    /// Sets a user's permissions in a vhost (RabbitMQ's `set_permissions -p vhost user
    /// configure write read`), replacing what it had there. Checks made from now on
    /// see them, on open channels too (RabbitMQ 3.10.8's channels keep the checks
    /// they passed for a few seconds more).
    ///
    /// With [`AccessControl::Enforced`], a user opens a vhost only where it has
    /// permissions (any, even ones that deny everything), and each operation checks,
    /// in RabbitMQ 3.10.8's order:
    ///
    /// | operation | checks |
    /// |---|---|
    /// | `exchange.declare` (not passive) | configure on the exchange; a new one with `alternate-exchange`: then read on it and write on the alternate |
    /// | `exchange.delete` | configure on the exchange (after the refusal of `""` and `amq.*`) |
    /// | `queue.declare` (not passive) | configure on the queue (a server-named one's `amq.gen-` name; after the refusal of a new `amq.` name); a new one with `x-dead-letter-exchange`: then read on it and write on that exchange |
    /// | `queue.delete` | configure on the queue |
    /// | `queue.bind`, `queue.unbind` | write on the queue, then read on the exchange |
    /// | `exchange.bind`, `exchange.unbind` | write on the destination, then read on the source |
    /// | `basic.publish` | write on the exchange |
    /// | `basic.consume`, `basic.get`, `queue.purge` | read on the queue |
    ///
    /// Passive declares, consuming the direct reply-to pseudo-queue, acks, `qos`,
    /// cancels, confirms and transactions check nothing. Checks come before the
    /// lookup: without permission a missing queue is 403, not 404; another
    /// connection's exclusive queue is 403 before 405. The default exchange is named
    /// `amq.default` in checks and texts. A refusal is a channel error, 403
    /// ACCESS_REFUSED: `access to queue 'q' in vhost '/' refused for user 'u'`.
    ///
    /// # Errors
    ///
    /// [`PermissionsError`]: the user is not in the store, the vhost does not exist,
    /// or a regex does not compile (the `regex` crate's syntax: PCRE's lookaround and
    /// backreferences are refused).
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::broker::{
    ///     AccessControl, Broker, ConnectOptions, Message, Permissions, PublishOptions,
    ///     QueueDeclare, UserRecord,
    /// };
    ///
    /// let broker = Broker::new();
    /// broker.set_access_control(AccessControl::Enforced);
    /// broker.add_user(UserRecord::new("app", ""));
    /// // Declare and use `app.` queues only; publish through any exchange.
    /// broker.set_permissions("app", "/", Permissions::new(r"^app\.", ".*", r"^app\."))?;
    ///
    /// let conn = broker.connect(ConnectOptions { user: "app".into(), ..ConnectOptions::default() })?;
    /// let ch = conn.open_channel()?;
    /// ch.queue_declare("app.jobs", &QueueDeclare::default())?;
    /// ch.publish("", "app.jobs", Message::new("work"), PublishOptions::default())?;
    /// assert!(ch.get("app.jobs", true)?.is_some());
    ///
    /// let err = ch.queue_declare("other", &QueueDeclare::default()).unwrap_err();
    /// assert_eq!(err.reply_code(), 403);
    /// assert_eq!(
    ///     err.to_string(),
    ///     "ACCESS_REFUSED - access to queue 'other' in vhost '/' refused for user 'app'"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_permissions(
        &self,
        user: &str,
        vhost: &str,
        permissions: Permissions,
    ) -> Result<(), PermissionsError> {
        // The vhost map's lock is held throughout: delete_vhost clears a vhost's
        // grants under it, so none is set for a vhost being deleted.
        let vhosts = read(&self.inner.vhosts);
        if !vhosts.contains_key(vhost) {
            return Err(PermissionsError::UnknownVhost(vhost.into()));
        }
        self.inner.access.set(user, vhost, permissions.clone())?;
        self.record(|| super::store::defs::Op::Permissions {
            user: user.into(),
            vhost: vhost.into(),
            permissions,
        });
        Ok(())
    }

    /// Removes a user's permissions in a vhost (RabbitMQ's `clear_permissions`);
    /// returns whether it had any. With access control on, it can no longer open the
    /// vhost, and its open connections there are refused every check.
    pub fn clear_permissions(&self, user: &str, vhost: &str) -> bool {
        let existed = self.inner.access.clear(user, vhost);
        if existed {
            self.record(|| super::store::defs::Op::PermissionsDel {
                user: user.into(),
                vhost: vhost.into(),
            });
        }
        existed
    }

    /// Records a change of users or permissions in the data directory, if any (a
    /// failed write shows at the next restart: the change is not there).
    fn record(&self, op: impl FnOnce() -> super::store::defs::Op) {
        if let Some(s) = &self.inner.store {
            let _ = s.record(op());
        }
    }

    /// A user's permissions, by vhost (sorted).
    ///
    /// ```
    /// use trackswitch::broker::{Broker, Permissions, UserRecord};
    ///
    /// let broker = Broker::new();
    /// broker.add_vhost("staging");
    /// broker.add_user(UserRecord::new("app", ""));
    /// broker.set_permissions("app", "staging", Permissions::new("", ".*", ".*"))?;
    /// broker.set_permissions("app", "/", Permissions::all())?;
    /// assert_eq!(
    ///     broker.permissions("app"),
    ///     [("/".to_string(), Permissions::all()),
    ///      ("staging".to_string(), Permissions::new("", ".*", ".*"))]
    /// );
    /// assert!(broker.clear_permissions("app", "staging"));
    /// assert_eq!(broker.permissions("app").len(), 1);
    /// # Ok::<(), trackswitch::broker::PermissionsError>(())
    /// ```
    pub fn permissions(&self, user: &str) -> Vec<(String, Permissions)> {
        self.inner.access.permissions(user)
    }
}
