//! Server configuration: users, vhosts and limits, from code or from a JSON file.

use std::fmt;
use std::time::Duration;

use super::auth::User;

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
        }
    }
}

/// What a [`Server`](super::Server) accepts: users and limits.
///
/// The default has one user, `guest`/`guest`, allowed from loopback addresses only
/// (as RabbitMQ).
///
/// # Examples
///
/// ```
/// use trackswitch::amqp::ServerConfig;
///
/// let config = ServerConfig::from_json(r#"{
///     "users": [{"name": "app", "password": "s3cret"}],
///     "vhosts": ["/", "staging"],
///     "limits": {"heartbeat": 30, "max_connections": 100}
/// }"#)?;
/// assert_eq!(config.users[0].name, "app");
/// assert_eq!(config.limits.heartbeat, 30);
/// # Ok::<(), trackswitch::amqp::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Users allowed to log in.
    pub users: Vec<User>,
    /// Virtual hosts to create on the broker at start (besides `/`).
    pub vhosts: Vec<String>,
    /// Limits.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            users: vec![User::guest()],
            vhosts: Vec::new(),
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

fn err(s: impl Into<String>) -> ConfigError {
    ConfigError(s.into())
}

impl ServerConfig {
    /// Parses a JSON configuration:
    ///
    /// ```json
    /// {"users": [{"name": "app", "password_hash": "<RabbitMQ sha256 hash>"},
    ///            {"name": "dev", "password": "plain text", "loopback_only": true}],
    ///  "vhosts": ["/", "staging"],
    ///  "limits": {"frame_max": 131072, "channel_max": 2047, "heartbeat": 60,
    ///             "max_message_size": 134217728, "max_connections": 1024,
    ///             "handshake_timeout_ms": 10000, "connection_buffer": 4194304,
    ///             "write_timeout_ms": 30000, "memory_high_watermark": 1073741824}}
    /// ```
    ///
    /// Without `users`, the default `guest` user (loopback only) is kept.
    ///
    /// # Errors
    ///
    /// Malformed JSON, unknown keys, wrong types, a user without a password.
    pub fn from_json(text: &str) -> Result<ServerConfig, ConfigError> {
        use serde_json::Value;
        let v: Value = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| err("expected a JSON object"))?;
        let mut config = ServerConfig::default();
        for (key, value) in obj {
            match key.as_str() {
                "users" => {
                    let list = value
                        .as_array()
                        .ok_or_else(|| err("users: expected an array"))?;
                    config.users = list.iter().map(parse_user).collect::<Result<_, _>>()?;
                }
                "vhosts" => {
                    let list = value
                        .as_array()
                        .ok_or_else(|| err("vhosts: expected an array"))?;
                    config.vhosts = list
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_owned)
                                .ok_or_else(|| err("vhosts: expected strings"))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "limits" => parse_limits(value, &mut config.limits)?,
                other => return Err(err(format!("unknown key '{other}'"))),
            }
        }
        Ok(config)
    }
}

fn parse_user(v: &serde_json::Value) -> Result<User, ConfigError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err("users: expected objects"))?;
    let mut name = None;
    let mut hash = None;
    let mut loopback_only = false;
    for (key, value) in obj {
        match key.as_str() {
            "name" => name = value.as_str(),
            "password_hash" => {
                let h = value
                    .as_str()
                    .ok_or_else(|| err("password_hash: expected a string"))?;
                if super::auth::base64_decode(h).is_none_or(|b| b.len() != 36) {
                    return Err(err(
                        "password_hash: expected base64 of a 4-byte salt and a SHA-256",
                    ));
                }
                hash = Some(h.to_owned());
            }
            "password" => {
                let p = value
                    .as_str()
                    .ok_or_else(|| err("password: expected a string"))?;
                hash = Some(User::new("", p).password_hash);
            }
            "loopback_only" => {
                loopback_only = value
                    .as_bool()
                    .ok_or_else(|| err("loopback_only: expected a boolean"))?;
            }
            other => return Err(err(format!("users: unknown key '{other}'"))),
        }
    }
    let name = name.ok_or_else(|| err("users: a user needs a \"name\""))?;
    let password_hash =
        hash.ok_or_else(|| err(format!("user '{name}' needs a password or password_hash")))?;
    Ok(User {
        name: name.to_owned(),
        password_hash,
        loopback_only,
    })
}

fn parse_limits(v: &serde_json::Value, limits: &mut Limits) -> Result<(), ConfigError> {
    let obj = v
        .as_object()
        .ok_or_else(|| err("limits: expected an object"))?;
    for (key, value) in obj {
        let n = value
            .as_u64()
            .ok_or_else(|| err(format!("limits.{key}: expected a non-negative integer")))?;
        let small = |max: u64| {
            if n > max {
                Err(err(format!("limits.{key}: at most {max}")))
            } else {
                Ok(n)
            }
        };
        match key.as_str() {
            "frame_max" => {
                limits.frame_max = small(u64::from(u32::MAX))? as u32;
                if limits.frame_max < 4096 {
                    return Err(err("limits.frame_max: at least 4096"));
                }
            }
            "channel_max" => limits.channel_max = small(u64::from(u16::MAX))? as u16,
            "heartbeat" => limits.heartbeat = small(u64::from(u16::MAX))? as u16,
            "max_message_size" => limits.max_message_size = small(512 * 1024 * 1024)?,
            "max_connections" => limits.max_connections = small(1 << 20)? as usize,
            "handshake_timeout_ms" => limits.handshake_timeout = Duration::from_millis(n),
            "connection_buffer" => limits.connection_buffer = small(1 << 32)? as usize,
            "write_timeout_ms" => limits.write_timeout = Duration::from_millis(n),
            "memory_high_watermark" => limits.memory_high_watermark = n,
            "close_linger_ms" => limits.close_linger = Duration::from_millis(n),
            other => return Err(err(format!("limits: unknown key '{other}'"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_problem() {
        for (text, needle) in [
            ("[]", "object"),
            ("{\"x\": 1}", "unknown key 'x'"),
            ("{\"users\": [{\"name\": \"a\"}]}", "needs a password"),
            (
                "{\"users\": [{\"name\": \"a\", \"password_hash\": \"abc\"}]}",
                "password_hash",
            ),
            ("{\"limits\": {\"frame_max\": 100}}", "at least 4096"),
            ("{\"limits\": {\"channel_max\": 70000}}", "at most 65535"),
            ("{\"limits\": {\"heartbeat\": -1}}", "non-negative"),
            ("{", "EOF"),
        ] {
            let e = ServerConfig::from_json(text).expect_err(text).to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn users_with_hashes_and_passwords() {
        let hash = super::super::auth::hash_password("pw", [1, 2, 3, 4]);
        let text = format!(
            r#"{{"users": [{{"name": "a", "password_hash": "{hash}"}},
                          {{"name": "b", "password": "x", "loopback_only": true}}],
                "limits": {{"write_timeout_ms": 500}}}}"#
        );
        let c = ServerConfig::from_json(&text).unwrap();
        assert!(c.users[0].check_password("pw"));
        assert!(c.users[1].check_password("x") && c.users[1].loopback_only);
        assert_eq!(c.limits.write_timeout, Duration::from_millis(500));
        assert_eq!(
            ServerConfig::from_json("{}").unwrap().users[0].name,
            "guest"
        );
    }
}
