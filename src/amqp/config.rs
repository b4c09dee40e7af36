//! Server configuration: users, vhosts and limits, from code or from a JSON file.
//!
//! The file is read into typed serde structs that refuse unknown keys
//! (`deny_unknown_fields`); `serde_path_to_error` names the place of a wrong value
//! (`users[0].password`). The checks no type can express (a user's password,
//! limits' ranges, permission regexes) sit beside the structs.

use std::fmt;
use std::time::Duration;

use super::auth::User;
use crate::broker::Permissions;

/// Limits of a [`Server`](super::Server). Every one has a default close to RabbitMQ's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// frame_max proposed in Tune (default 131072); clients may ask for less, never
    /// under 4096.
    pub frame_max: u32,
    /// Channels per connection (default 2047).
    pub channel_max: u16,
    /// Heartbeat interval proposed in Tune, seconds (default 60; 0 disables).
    pub heartbeat: u16,
    /// Largest message body (default 128 MiB, RabbitMQ 3.10.8's
    /// `max_message_size`; at most 512 MiB); larger publishes close the channel with
    /// 406. Checked on the content header, before the body is read; the broker's own
    /// limit ([`BrokerBuilder::max_message_size`](crate::broker::BrokerBuilder::max_message_size))
    /// applies too, so build the broker with the same value (`trackswitch serve`
    /// does).
    pub max_message_size: u64,
    /// Open connections at once (default 1024); more are closed on accept.
    pub max_connections: usize,
    /// Time from accept to `connection.open-ok` (default 10 s).
    pub handshake_timeout: Duration,
    /// Outbound bytes queued per connection before the server stops taking
    /// deliveries for it (default 4 MiB).
    pub connection_buffer: usize,
    /// How long a write may stall before the connection is dropped (default 30 s).
    pub write_timeout: Duration,
    /// Body bytes held by queues above which publishing connections are blocked
    /// (`connection.blocked`); 0 disables (default 1 GiB).
    pub memory_high_watermark: u64,
    /// How long a closing connection waits for `close-ok` (default 3 s).
    pub close_linger: Duration,
    /// Free disk space (bytes) in the data directory under which publishing
    /// connections are blocked (`connection.blocked`, "low on disk"); default
    /// 50,000,000, RabbitMQ 3.10.8's `disk_free_limit`; 0 disables. The broker checks
    /// it ([`BrokerBuilder::disk_free_limit`](crate::broker::BrokerBuilder::disk_free_limit));
    /// `trackswitch serve` builds its broker with this value.
    pub disk_free_limit: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            frame_max: 131_072,
            channel_max: 2047,
            heartbeat: 60,
            max_message_size: crate::broker::DEFAULT_MAX_MESSAGE_SIZE as u64,
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            connection_buffer: 4 * 1024 * 1024,
            write_timeout: Duration::from_secs(30),
            memory_high_watermark: 1 << 30,
            close_linger: Duration::from_secs(3),
            disk_free_limit: crate::broker::DEFAULT_DISK_FREE_LIMIT,
        }
    }
}

/// What a [`Server`](super::Server) accepts: users, their permissions, vhosts and
/// limits.
///
/// The default has one user, `guest`/`guest`, who (as every user named in
/// `loopback_users`, default `["guest"]`) may log in from loopback addresses only, as
/// RabbitMQ's `loopback_users`.
///
/// The server loads `users` into its broker's user store at start (replacing users of
/// the same name) and logs users in against that store, so users a definitions import
/// added log in too. It then sets `permissions` and turns the broker's access control
/// on ([`AccessControl::Enforced`](crate::broker::AccessControl)): a user opens a vhost
/// only where it has permissions and each operation is checked as in RabbitMQ.
///
/// # Examples
///
/// ```
/// use trackswitch::amqp::ServerConfig;
/// use trackswitch::broker::Permissions;
///
/// let config = ServerConfig::from_json(r#"{
///     "users": [{"name": "app", "password": "s3cret"}],
///     "vhosts": ["/", "staging"],
///     "permissions": [{"user": "app", "vhost": "staging",
///                      "configure": "^app\\.", "write": ".*", "read": ".*"}],
///     "limits": {"heartbeat": 30, "max_connections": 100}
/// }"#)?;
/// assert_eq!(config.users[0].name, "app");
/// let granted = &config.permissions.as_ref().unwrap()[0];
/// assert_eq!(granted.permissions, Permissions::new(r"^app\.", ".*", ".*"));
/// assert_eq!(config.limits.heartbeat, 30);
/// # Ok::<(), trackswitch::amqp::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Users allowed to log in.
    pub users: Vec<User>,
    /// Names of the users who may log in only from a loopback address, whoever defines
    /// them (RabbitMQ's `loopback_users`; default `["guest"]`, empty to allow guest
    /// from anywhere).
    pub loopback_users: Vec<String>,
    /// Virtual hosts to create on the broker at start (besides `/`).
    pub vhosts: Vec<String>,
    /// Who may do what in which vhost. `None` (the default, and a file without a
    /// `permissions` key): every user in `users` gets all permissions
    /// ([`Permissions::all`]) on every vhost the broker has when the server starts,
    /// as before permissions existed. `Some`: exactly these, each user and vhost
    /// existing when the server starts (in `users` or `vhosts`, or already in the
    /// broker).
    pub permissions: Option<Vec<UserPermissions>>,
    /// Limits.
    pub limits: Limits,
}

/// A user's permissions in a vhost, as [`ServerConfig::permissions`] lists them (an
/// entry of the definitions format's `permissions`: `{"user", "vhost", "configure",
/// "write", "read"}` in a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPermissions {
    /// The user's name.
    pub user: String,
    /// The vhost.
    pub vhost: String,
    /// The regexes (see [`Broker::set_permissions`](crate::broker::Broker::set_permissions)).
    pub permissions: Permissions,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            users: vec![User::guest()],
            loopback_users: vec!["guest".into()],
            vhosts: Vec::new(),
            permissions: None,
            limits: Limits::default(),
        }
    }
}

/// A configuration file the server cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid server configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

pub(crate) fn err(s: impl Into<String>) -> ConfigError {
    ConfigError(s.into())
}

impl ServerConfig {
    /// Parses a JSON configuration:
    ///
    /// ```json
    /// {"users": [{"name": "app", "password_hash": "<RabbitMQ sha256 hash>"},
    ///            {"name": "dev", "password": "plain text"}],
    ///  "loopback_users": ["guest", "dev"],
    ///  "vhosts": ["/", "staging"],
    ///  "permissions": [{"user": "app", "vhost": "/",
    ///                   "configure": "^app\\.", "write": ".*", "read": ".*"}],
    ///  "limits": {"frame_max": 131072, "channel_max": 2047, "heartbeat": 60,
    ///             "max_message_size": 134217728, "max_connections": 1024,
    ///             "handshake_timeout_ms": 10000, "connection_buffer": 4194304,
    ///             "write_timeout_ms": 30000, "memory_high_watermark": 1073741824,
    ///             "close_linger_ms": 3000, "disk_free_limit": 50000000}}
    /// ```
    ///
    /// Every key is optional (`null` is not a value of any). Without `users`, the
    /// default `guest` user is kept; without `loopback_users`, only a user named `guest`
    /// is held to loopback addresses (RabbitMQ's default). A user has a `name`
    /// and exactly one of `password_hash` (RabbitMQ's `rabbit_password_hashing_sha256`
    /// format) and `password`. Without `permissions`, every user gets all permissions
    /// on every vhost (see [`ServerConfig::permissions`]); with it, exactly what it
    /// lists: each entry has a `user`, a `vhost` and the three regexes, as in
    /// RabbitMQ's definitions (whether the user and vhost exist is checked when the
    /// server starts).
    ///
    /// # Errors
    ///
    /// Malformed JSON, unknown keys, wrong types, limits out of range, a user without a
    /// name or a password (or with both a password and a hash), a permission regex that
    /// does not compile. The message names the place (`users[1].password`) and, for
    /// JSON it could read, the line and column:
    ///
    /// ```
    /// use trackswitch::amqp::ServerConfig;
    ///
    /// let err = ServerConfig::from_json(r#"{"users": [{"name": "app", "pasword": "x"}]}"#)
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with(
    ///     "invalid server configuration: users[0].pasword: unknown field `pasword`"
    /// ), "{err}");
    /// ```
    pub fn from_json(text: &str) -> Result<ServerConfig, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let file: Object<ConfigFile> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let e = e.into_inner();
            // The place of a wrong value; broken JSON has a line and column only.
            if path == "." || e.classify() != serde_json::error::Category::Data {
                err(e.to_string())
            } else {
                err(format!("{path}: {e}"))
            }
        })?;
        de.end().map_err(|e| err(e.to_string()))?;
        let Object(file) = file;
        let mut config = ServerConfig::default();
        if let Some(users) = file.users {
            config.users = users
                .into_iter()
                .enumerate()
                .map(|(i, Object(u))| u.into_user(i))
                .collect::<Result<_, _>>()?;
        }
        if let Some(names) = file.loopback_users {
            config.loopback_users = names;
        }
        config.vhosts = file.vhosts.unwrap_or_default();
        config.permissions = file.permissions.map(|entries| {
            entries
                .into_iter()
                .map(|Object(p)| UserPermissions {
                    user: p.user,
                    vhost: p.vhost,
                    permissions: Permissions {
                        configure: p.configure.0,
                        write: p.write.0,
                        read: p.read.0,
                    },
                })
                .collect()
        });
        if let Some(Object(limits)) = file.limits {
            limits.apply(&mut config.limits);
        }
        Ok(config)
    }
}

// ----- the file's shape -----

/// A JSON object read as the derived `T` (serde_json also reads a struct from an array
/// of its fields in order, which a configuration file should not be).
struct Object<T>(T);

/// What an [`Object`] is called in "expected ..." messages.
trait Expecting {
    const EXPECTING: &'static str;
}

impl<'de, T: serde::Deserialize<'de> + Expecting> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Object<T>, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de> + Expecting> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Object<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }

        d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option` field: a present
/// value is read as `T`, so `null` is a wrong type rather than an absent key.
fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The configuration file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default, deserialize_with = "present")]
    users: Option<Vec<Object<UserEntry>>>,
    #[serde(default, deserialize_with = "present")]
    loopback_users: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    vhosts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    permissions: Option<Vec<Object<PermissionsEntry>>>,
    #[serde(default, deserialize_with = "present")]
    limits: Option<Object<LimitsEntry>>,
}

impl Expecting for ConfigFile {
    const EXPECTING: &'static str = "a JSON object";
}

/// An entry of `users`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    name: String,
    #[serde(default, deserialize_with = "present")]
    password_hash: Option<PasswordHash>,
    #[serde(default, deserialize_with = "present")]
    password: Option<String>,
}

impl Expecting for UserEntry {
    const EXPECTING: &'static str = "a user object";
}

impl UserEntry {
    /// The user; `i` is its index in `users`, for messages.
    fn into_user(self, i: usize) -> Result<User, ConfigError> {
        let name = self.name;
        let password_hash = match (self.password_hash, self.password) {
            (Some(PasswordHash(h)), None) => h,
            (None, Some(p)) => User::new("", &p).password_hash,
            (None, None) => {
                return Err(err(format!(
                    "users[{i}]: user '{name}' needs a password or password_hash"
                )));
            }
            (Some(_), Some(_)) => {
                return Err(err(format!(
                    "users[{i}]: user '{name}' has both a password and a password_hash; give one"
                )));
            }
        };
        Ok(User {
            name,
            password_hash,
        })
    }
}

/// An entry of `permissions`: the definitions format's.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionsEntry {
    user: String,
    vhost: String,
    configure: Regex,
    write: Regex,
    read: Regex,
}

impl Expecting for PermissionsEntry {
    const EXPECTING: &'static str = "a permissions object";
}

/// A permission regex that compiles (the broker's own compiler).
struct Regex(String);

impl<'de> serde::Deserialize<'de> for Regex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Regex, D::Error> {
        let pattern = String::deserialize(d)?;
        match crate::broker::check_regex(&pattern) {
            Ok(()) => Ok(Regex(pattern)),
            Err(reason) => Err(serde::de::Error::custom(format!(
                "invalid regex '{pattern}': {reason}"
            ))),
        }
    }
}

/// A `password_hash`: base64 of a 4-byte salt and a SHA-256.
struct PasswordHash(String);

impl<'de> serde::Deserialize<'de> for PasswordHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PasswordHash, D::Error> {
        let h = String::deserialize(d)?;
        if super::auth::base64_decode(&h).is_none_or(|b| b.len() != 36) {
            return Err(serde::de::Error::invalid_value(
                serde::de::Unexpected::Str(&h),
                &"base64 of a 4-byte salt and a SHA-256",
            ));
        }
        Ok(PasswordHash(h))
    }
}

/// `limits`: each one optional, each checked against its range.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsEntry {
    #[serde(default, deserialize_with = "present")]
    frame_max: Option<Count<4096, { u32::MAX as u64 }>>,
    #[serde(default, deserialize_with = "present")]
    channel_max: Option<Count<0, { u16::MAX as u64 }>>,
    #[serde(default, deserialize_with = "present")]
    heartbeat: Option<Count<0, { u16::MAX as u64 }>>,
    #[serde(default, deserialize_with = "present")]
    max_message_size: Option<Count<0, { 512 * 1024 * 1024 }>>,
    #[serde(default, deserialize_with = "present")]
    max_connections: Option<Count<0, { 1 << 20 }>>,
    #[serde(default, deserialize_with = "present")]
    handshake_timeout_ms: Option<Count>,
    #[serde(default, deserialize_with = "present")]
    connection_buffer: Option<Count<0, { 1 << 32 }>>,
    #[serde(default, deserialize_with = "present")]
    write_timeout_ms: Option<Count>,
    #[serde(default, deserialize_with = "present")]
    memory_high_watermark: Option<Count>,
    #[serde(default, deserialize_with = "present")]
    close_linger_ms: Option<Count>,
    #[serde(default, deserialize_with = "present")]
    disk_free_limit: Option<Count>,
}

impl Expecting for LimitsEntry {
    const EXPECTING: &'static str = "an object of limits";
}

impl LimitsEntry {
    /// Sets the limits given; the others keep their values.
    fn apply(self, limits: &mut Limits) {
        // The casts are exact: each count's range fits its field.
        if let Some(Count(n)) = self.frame_max {
            limits.frame_max = n as u32;
        }
        if let Some(Count(n)) = self.channel_max {
            limits.channel_max = n as u16;
        }
        if let Some(Count(n)) = self.heartbeat {
            limits.heartbeat = n as u16;
        }
        if let Some(Count(n)) = self.max_message_size {
            limits.max_message_size = n;
        }
        if let Some(Count(n)) = self.max_connections {
            limits.max_connections = n as usize;
        }
        if let Some(Count(n)) = self.handshake_timeout_ms {
            limits.handshake_timeout = Duration::from_millis(n);
        }
        if let Some(Count(n)) = self.connection_buffer {
            limits.connection_buffer = n as usize;
        }
        if let Some(Count(n)) = self.write_timeout_ms {
            limits.write_timeout = Duration::from_millis(n);
        }
        if let Some(Count(n)) = self.memory_high_watermark {
            limits.memory_high_watermark = n;
        }
        if let Some(Count(n)) = self.close_linger_ms {
            limits.close_linger = Duration::from_millis(n);
        }
        if let Some(Count(n)) = self.disk_free_limit {
            limits.disk_free_limit = n;
        }
    }
}

/// A non-negative integer in `MIN..=MAX`.
struct Count<const MIN: u64 = 0, const MAX: u64 = { u64::MAX }>(u64);

impl<'de, const MIN: u64, const MAX: u64> serde::Deserialize<'de> for Count<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Count<MIN, MAX>, D::Error> {
        struct CountVisitor<const MIN: u64, const MAX: u64>;

        impl<const MIN: u64, const MAX: u64> serde::de::Visitor<'_> for CountVisitor<MIN, MAX> {
            type Value = Count<MIN, MAX>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative integer")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Count<MIN, MAX>, E> {
                let bound = if n > MAX {
                    format!("at most {MAX}")
                } else if n < MIN {
                    format!("at least {MIN}")
                } else {
                    return Ok(Count(n));
                };
                Err(E::invalid_value(
                    serde::de::Unexpected::Unsigned(n),
                    &bound.as_str(),
                ))
            }
        }

        d.deserialize_u64(CountVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_problem() {
        let hash = super::super::auth::hash_password("pw", [1, 2, 3, 4]);
        let both = format!(
            r#"{{"users": [{{"name": "a", "password": "x", "password_hash": "{hash}"}}]}}"#
        );
        for (text, message) in [
            (
                "[]",
                "invalid type: sequence, expected a JSON object at line 1 column 0",
            ),
            (
                r#"{"x": 1}"#,
                "x: unknown field `x`, expected one of `users`, `loopback_users`, `vhosts`, \
                 `permissions`, `limits` at line 1 column 4",
            ),
            (
                r#"{"users": {}}"#,
                "users: invalid type: map, expected a sequence at line 1 column 10",
            ),
            (
                r#"{"users": [1]}"#,
                "users[0]: invalid type: integer `1`, expected a user object at line 1 column 12",
            ),
            (
                r#"{"users": [{"password": "x"}]}"#,
                "users[0]: missing field `name` at line 1 column 28",
            ),
            (
                r#"{"users": [{"name": "a"}]}"#,
                "users[0]: user 'a' needs a password or password_hash",
            ),
            (
                &both,
                "users[0]: user 'a' has both a password and a password_hash; give one",
            ),
            (
                r#"{"users": [{"name": "a", "password_hash": "abc"}]}"#,
                "users[0].password_hash: invalid value: string \"abc\", expected base64 of a \
                 4-byte salt and a SHA-256 at line 1 column 48",
            ),
            (
                r#"{"loopback_users": "guest"}"#,
                "loopback_users: invalid type: string \"guest\", expected a sequence at line 1 \
                 column 26",
            ),
            (
                r#"{"users": [{"name": "a", "password": "x", "admin": true}]}"#,
                "users[0].admin: unknown field `admin`, expected one of `name`, \
                 `password_hash`, `password` at line 1 column 49",
            ),
            (
                r#"{"vhosts": ["/", 2]}"#,
                "vhosts[1]: invalid type: integer `2`, expected a string at line 1 column 18",
            ),
            (
                r#"{"limits": {"frame_max": 100}}"#,
                "limits.frame_max: invalid value: integer `100`, expected at least 4096 at \
                 line 1 column 28",
            ),
            (
                r#"{"limits": {"channel_max": 70000}}"#,
                "limits.channel_max: invalid value: integer `70000`, expected at most 65535 \
                 at line 1 column 32",
            ),
            (
                r#"{"limits": {"heartbeat": -1}}"#,
                "limits.heartbeat: invalid type: integer `-1`, expected a non-negative \
                 integer at line 1 column 27",
            ),
            (
                r#"{"limits": {"heartbeat_ms": 1}}"#,
                "limits.heartbeat_ms: unknown field `heartbeat_ms`, expected one of \
                 `frame_max`, `channel_max`, `heartbeat`, `max_message_size`, \
                 `max_connections`, `handshake_timeout_ms`, `connection_buffer`, \
                 `write_timeout_ms`, `memory_high_watermark`, `close_linger_ms`, \
                 `disk_free_limit` at line 1 column 26",
            ),
            (
                r#"{"permissions": [{"user": "a", "vhost": "/", "configure": "(", "write": "",
                    "read": ""}]}"#,
                "permissions[0].configure: invalid regex '(': unclosed group at line 1 column 61",
            ),
            (
                r#"{"permissions": [{"user": "a", "vhost": "/", "configure": "", "write": ""}]}"#,
                "permissions[0]: missing field `read` at line 1 column 74",
            ),
            (
                r#"{"permissions": [{"user": "a", "vhost": "/", "configure": "", "write": "",
                    "read": "", "tags": []}]}"#,
                "permissions[0].tags: unknown field `tags`, expected one of `user`, `vhost`, \
                 `configure`, `write`, `read` at line 2 column 38",
            ),
            (
                r#"{"permissions": {"user": "a"}}"#,
                "permissions: invalid type: map, expected a sequence at line 1 column 16",
            ),
            (
                r#"{"permissions": [["a", "/", "", "", ""]]}"#,
                "permissions[0]: invalid type: sequence, expected a permissions object at line \
                 1 column 17",
            ),
            ("{", "EOF while parsing an object at line 1 column 1"),
            ("{} {}", "trailing characters at line 1 column 4"),
        ] {
            let e = ServerConfig::from_json(text).expect_err(text).to_string();
            assert_eq!(
                e,
                format!("invalid server configuration: {message}"),
                "{text}"
            );
        }
    }

    #[test]
    fn null_is_a_wrong_type() {
        for (text, place) in [
            (
                r#"{"users": null}"#,
                "users: invalid type: null, expected a sequence",
            ),
            (
                r#"{"users": [{"name": "a", "password": null}]}"#,
                "users[0].password: invalid type: null, expected a string",
            ),
            (
                r#"{"limits": {"heartbeat": null}}"#,
                "limits.heartbeat: invalid type: null, expected a non-negative integer",
            ),
        ] {
            let e = ServerConfig::from_json(text).expect_err(text).to_string();
            assert!(e.contains(place), "{text}: {e}");
        }
    }

    #[test]
    fn users_with_hashes_and_passwords() {
        let hash = super::super::auth::hash_password("pw", [1, 2, 3, 4]);
        let text = format!(
            r#"{{"users": [{{"name": "a", "password_hash": "{hash}"}},
                          {{"name": "b", "password": "x"}}],
                "loopback_users": ["b"],
                "vhosts": ["staging"],
                "limits": {{"write_timeout_ms": 500, "frame_max": 4096, "heartbeat": 0,
                            "close_linger_ms": 10}}}}"#
        );
        let c = ServerConfig::from_json(&text).unwrap();
        assert!(c.users[0].check_password("pw"));
        assert!(c.users[1].check_password("x"));
        assert_eq!(c.loopback_users, ["b"]);
        assert_eq!(c.vhosts, ["staging"]);
        assert_eq!(c.limits.write_timeout, Duration::from_millis(500));
        assert_eq!((c.limits.frame_max, c.limits.heartbeat), (4096, 0));
        assert_eq!(c.limits.close_linger, Duration::from_millis(10));
        assert_eq!(c.limits.channel_max, Limits::default().channel_max);
        assert_eq!(
            ServerConfig::from_json("{}").unwrap().users[0].name,
            "guest"
        );
    }

    #[test]
    fn permissions_are_exactly_what_the_file_lists() {
        assert_eq!(ServerConfig::from_json("{}").unwrap().permissions, None);
        assert_eq!(
            ServerConfig::from_json(r#"{"permissions": []}"#)
                .unwrap()
                .permissions,
            Some(vec![])
        );
        let c = ServerConfig::from_json(
            r#"{"permissions": [
                {"user": "a", "vhost": "/", "configure": "", "write": ".*", "read": "^q$"},
                {"user": "b", "vhost": "v", "configure": ".*", "write": ".*", "read": ".*"}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.permissions.unwrap(),
            [
                UserPermissions {
                    user: "a".into(),
                    vhost: "/".into(),
                    permissions: Permissions::new("", ".*", "^q$"),
                },
                UserPermissions {
                    user: "b".into(),
                    vhost: "v".into(),
                    permissions: Permissions::all(),
                },
            ]
        );
    }
}
