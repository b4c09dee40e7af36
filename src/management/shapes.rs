//! The JSON objects of RabbitMQ's management API, made from the broker's
//! introspection: field names as RabbitMQ 3.10.8 writes them (see
//! `docs/rabbitmq-3.10.8-management-facts.md` and the samples in
//! `tests/data/management/rabbitmq-3.10.8/`), for the fields trackswitch has.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::rates::{self, Counts, Key, Rates};
use crate::broker::{
    BindingInfo, ChannelInfo, ConnectionInfo, ConsumerInfo, ExchangeInfo, Permissions, Properties,
    QueueInfo, UserRecord, table_from_json, table_to_json,
};

/// The node name every object reports (one node: this server).
pub(super) const NODE: &str = "trackswitch@localhost";

/// RabbitMQ's connection name: `peer -> local`.
pub(super) fn connection_name(c: &ConnectionInfo) -> String {
    match (c.peer, c.local) {
        (Some(p), Some(l)) => format!("{p} -> {l}"),
        (Some(p), None) => p.to_string(),
        _ => format!("connection {}", c.id),
    }
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A connection, as `/api/connections` lists it.
pub(super) fn connection(c: &ConnectionInfo) -> Value {
    let (peer_host, peer_port) = c.peer.map_or((Value::Null, Value::Null), |p| {
        (p.ip().to_string().into(), p.port().into())
    });
    let (host, port) = c.local.map_or((Value::Null, Value::Null), |l| {
        (l.ip().to_string().into(), l.port().into())
    });
    json!({
        "auth_mechanism": c.auth_mechanism,
        "channel_max": c.channel_max,
        "channels": c.channels,
        "client_properties": table_to_json(&c.client_properties),
        "connected_at": millis(c.connected_at),
        "frame_max": c.frame_max,
        "host": host,
        "name": connection_name(c),
        "node": NODE,
        "peer_host": peer_host,
        "peer_port": peer_port,
        "port": port,
        "protocol": "AMQP 0-9-1",
        "ssl": c.tls,
        "state": "running",
        "timeout": c.heartbeat,
        "type": "network",
        "user": c.user,
        "user_provided_name": c.client_name,
        "user_who_performed_action": c.user,
        "vhost": c.vhost,
    })
}

/// The `connection_details` of a channel or consumer.
fn connection_details(c: &ConnectionInfo) -> Value {
    json!({
        "name": connection_name(c),
        "peer_host": c.peer.map(|p| p.ip().to_string()),
        "peer_port": c.peer.map(|p| p.port()),
    })
}

/// A channel's name: `connection name (number)`.
pub(super) fn channel_name(c: &ConnectionInfo, number: u32) -> String {
    format!("{} ({number})", connection_name(c))
}

/// A channel, as `/api/channels` lists it.
pub(super) fn channel(ch: &ChannelInfo, c: &ConnectionInfo) -> Value {
    json!({
        "acks_uncommitted": 0,
        "confirm": ch.confirm,
        "connection_details": connection_details(c),
        "consumer_count": ch.consumers,
        "global_prefetch_count": ch.global_prefetch_count,
        "messages_unacknowledged": ch.unacked,
        "messages_uncommitted": 0,
        "messages_unconfirmed": 0,
        "name": channel_name(c, ch.id),
        "node": NODE,
        "number": ch.id,
        "prefetch_count": ch.prefetch_count,
        "state": "running",
        "transactional": ch.transactional,
        "user": c.user,
        "user_who_performed_action": c.user,
        "vhost": c.vhost,
    })
}

/// A consumer, as `/api/consumers` lists it.
pub(super) fn consumer(k: &ConsumerInfo, c: &ConnectionInfo) -> Value {
    json!({
        "ack_required": !k.no_ack,
        "active": true,
        "activity_status": "up",
        "arguments": if k.priority != 0 { json!({"x-priority": k.priority}) } else { json!({}) },
        "channel_details": {
            "connection_name": connection_name(c),
            "name": channel_name(c, k.channel),
            "node": NODE,
            "number": k.channel,
            "peer_host": c.peer.map(|p| p.ip().to_string()),
            "peer_port": c.peer.map(|p| p.port()),
            "user": c.user,
        },
        "consumer_tag": k.tag,
        "exclusive": k.exclusive,
        "prefetch_count": k.prefetch_count,
        "queue": { "name": k.queue, "vhost": c.vhost },
    })
}

/// An exchange, as `/api/exchanges` lists it (the default one named `""`).
pub(super) fn exchange(x: &ExchangeInfo, vhost: &str) -> Value {
    let arguments = match &x.alternate_exchange {
        Some(ae) => json!({ "alternate-exchange": ae }),
        None => json!({}),
    };
    json!({
        "arguments": arguments,
        "auto_delete": x.auto_delete,
        "durable": x.durable,
        "internal": x.internal,
        "name": x.name,
        "type": x.kind.as_str(),
        "user_who_performed_action": "rmq-internal",
        "vhost": vhost,
    })
}

/// The message counters a queue reports (`publish`, `deliver_get`, `ack`,
/// `redeliver`), and a vhost's or the overview's (with the unroutable ones).
const QUEUE_STATS: [usize; 4] = [0, 1, 2, 3];
pub(super) const VHOST_STATS: [usize; 6] = [0, 1, 2, 3, 4, 5];

/// `message_stats` of an object.
pub(super) fn message_stats(counts: &Counts, rates: &Rates, key: &Key, which: &[usize]) -> Value {
    rates::message_stats(counts, &rates.of(key), which)
}

/// A queue, as `/api/queues` lists it.
pub(super) fn queue(q: &QueueInfo, vhost: &str, rates: &Rates) -> Value {
    let key = Key::Queue(vhost.into(), q.name.clone());
    let counts = rates::queue_counts(q);
    let zero = json!({ "rate": 0.0 });
    json!({
        "arguments": table_to_json(&q.arguments),
        "auto_delete": q.auto_delete,
        "consumers": q.consumers,
        "durable": q.durable,
        "exclusive": q.exclusive,
        "exclusive_consumer_tag": null,
        "message_bytes": q.ready_bytes,
        "message_bytes_ready": q.ready_bytes,
        "message_stats": message_stats(&counts, rates, &key, &QUEUE_STATS),
        "messages": q.ready + q.unacked,
        "messages_details": zero,
        "messages_ready": q.ready,
        "messages_ready_details": zero,
        "messages_unacknowledged": q.unacked,
        "messages_unacknowledged_details": zero,
        "name": q.name,
        "node": NODE,
        "policy": null,
        "state": "running",
        "type": "classic",
        "vhost": vhost,
    })
}

/// RabbitMQ's `properties_key` of a binding: `~` for an empty key without arguments;
/// else the key percent-encoded (`facts.#` as `facts.%23`), followed, when there are
/// arguments, by `~` and a short hash of them (RabbitMQ hashes the Erlang term; any
/// stable hash identifies the binding: tools take the key from listings).
pub(super) fn properties_key(routing_key: &str, arguments: &Value) -> String {
    let empty_args = arguments.as_object().is_none_or(serde_json::Map::is_empty);
    if routing_key.is_empty() && empty_args {
        return "~".into();
    }
    let mut key = percent_encode(routing_key);
    if !empty_args {
        // FNV-1a over the canonical (sorted) JSON, as 6 characters of URL-safe base64.
        let mut h: u32 = 0x811c_9dc5;
        for b in arguments.to_string().bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let hash = crate::amqp::auth::base64_encode(&h.to_be_bytes());
        key.push('~');
        key.extend(hash.trim_end_matches('=').chars().map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        }));
    }
    key
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A binding, as `/api/bindings` lists it.
pub(super) fn binding(b: &BindingInfo, vhost: &str) -> Value {
    let arguments = table_to_json(&b.arguments);
    json!({
        "properties_key": properties_key(&b.routing_key, &arguments),
        "arguments": arguments,
        "destination": b.destination,
        "destination_type": if b.destination_is_exchange { "exchange" } else { "queue" },
        "routing_key": b.routing_key,
        "source": b.source,
        "vhost": vhost,
    })
}

/// The default exchange's implicit binding of a queue (RabbitMQ lists it).
pub(super) fn default_binding(queue: &str, vhost: &str) -> Value {
    json!({
        "arguments": {},
        "destination": queue,
        "destination_type": "queue",
        "properties_key": properties_key(queue, &json!({})),
        "routing_key": queue,
        "source": "",
        "vhost": vhost,
    })
}

/// A user, as `/api/users` lists it.
pub(super) fn user(u: &UserRecord) -> Value {
    json!({
        "hashing_algorithm": u.hashing_algorithm,
        "limits": {},
        "name": u.name,
        "password_hash": u.password_hash,
        "tags": u.tags,
    })
}

/// A permission, as `/api/permissions` lists it.
pub(super) fn permission(user: &str, vhost: &str, p: &Permissions) -> Value {
    json!({
        "configure": p.configure,
        "read": p.read,
        "user": user,
        "vhost": vhost,
        "write": p.write,
    })
}

/// Connections by id, for naming channels and consumers.
pub(super) fn by_id(conns: Vec<ConnectionInfo>) -> HashMap<u64, ConnectionInfo> {
    conns.into_iter().map(|c| (c.id, c)).collect()
}

/// Message properties as the get endpoint writes them: the set ones by RabbitMQ's
/// names, or `[]` when none is set (RabbitMQ's empty proplist).
pub(super) fn properties_out(p: &Properties) -> Value {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    let text = |s: &Option<String>| s.clone().map(Value::from);
    for (k, v) in [
        ("content_type", text(&p.content_type)),
        ("content_encoding", text(&p.content_encoding)),
        ("headers", p.headers.as_ref().map(table_to_json)),
        ("delivery_mode", p.delivery_mode.map(Value::from)),
        ("priority", p.priority.map(Value::from)),
        ("correlation_id", text(&p.correlation_id)),
        ("reply_to", text(&p.reply_to)),
        ("expiration", text(&p.expiration)),
        ("message_id", text(&p.message_id)),
        ("timestamp", p.timestamp.map(Value::from)),
        ("type", text(&p.kind)),
        ("user_id", text(&p.user_id)),
        ("app_id", text(&p.app_id)),
        ("cluster_id", text(&p.cluster_id)),
    ] {
        if let Some(v) = v {
            put(k, v);
        }
    }
    if m.is_empty() {
        json!([])
    } else {
        Value::Object(m)
    }
}

/// Message properties from the publish endpoint's `properties` object (RabbitMQ's
/// names; unknown ones are ignored, as RabbitMQ does).
///
/// # Errors
///
/// 400 for a wrong type, in RabbitMQ's words (`["not_int","delivery_mode"]`).
pub(super) fn properties_in(v: &Value) -> ApiResult<Properties> {
    let mut p = Properties::default();
    let Some(m) = v.as_object() else {
        if v.as_array().is_some_and(Vec::is_empty) {
            return Ok(p); // `[]`, as RabbitMQ writes no properties
        }
        return Err(ApiError::bad_request(json!(["not_object", "properties"])));
    };
    let text = |k: &str| -> ApiResult<Option<String>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(ApiError::bad_request(json!(["not_string", k]))),
        }
    };
    let int = |k: &str, max: u64| -> ApiResult<Option<u64>> {
        let n = match m.get(k) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        };
        n.filter(|&n| n <= max)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(json!(["not_int", k])))
    };
    p.content_type = text("content_type")?;
    p.content_encoding = text("content_encoding")?;
    p.delivery_mode = int("delivery_mode", 255)?.map(|n| n as u8);
    p.priority = int("priority", 255)?.map(|n| n as u8);
    p.correlation_id = text("correlation_id")?;
    p.reply_to = text("reply_to")?;
    p.expiration = text("expiration")?;
    p.message_id = text("message_id")?;
    p.timestamp = int("timestamp", u64::MAX)?;
    p.kind = text("type")?;
    p.user_id = text("user_id")?;
    p.app_id = text("app_id")?;
    p.cluster_id = text("cluster_id")?;
    if let Some(h) = m.get("headers") {
        let table =
            table_from_json(h).map_err(|e| ApiError::bad_request(format!("headers: {e}")))?;
        p.headers = Some(table);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_keys_are_rabbitmqs_for_keys_without_arguments() {
        // From RabbitMQ 3.10.8 (tests/data/management/rabbitmq-3.10.8/errors.txt).
        assert_eq!(properties_key("", &json!({})), "~");
        assert_eq!(properties_key("rk1", &json!({})), "rk1");
        assert_eq!(properties_key("facts.#", &json!({})), "facts.%23");
        assert_eq!(properties_key("a.*", &json!({})), "a.%2A");
        let with_args = properties_key("rk2", &json!({"x-a": "b"}));
        assert!(
            with_args.starts_with("rk2~") && with_args.len() == 10,
            "{with_args}"
        );
        assert_ne!(with_args, properties_key("rk2", &json!({"x-a": "c"})));
        assert!(properties_key("", &json!({"k": 1})).starts_with('~'));
    }

    #[test]
    fn properties_round_trip_and_bad_types_are_refused() {
        let p = properties_in(&json!({"delivery_mode": 2, "headers": {"a": 1},
            "content_type": "text/plain", "priority": "3", "bogus": 1}))
        .unwrap();
        assert_eq!(p.delivery_mode, Some(2));
        assert_eq!(p.priority, Some(3));
        assert_eq!(
            properties_out(&p),
            json!({"content_type": "text/plain", "delivery_mode": 2, "headers": {"a": 1}, "priority": 3})
        );
        assert_eq!(properties_out(&Properties::default()), json!([]));
        assert!(properties_in(&json!([])).is_ok());
        for bad in [
            json!({"delivery_mode": "x"}),
            json!({"priority": 256}),
            json!({"content_type": {}}),
            json!({"headers": 1}),
            json!("x"),
        ] {
            assert_eq!(
                properties_in(&bad).unwrap_err().status().as_u16(),
                400,
                "{bad}"
            );
        }
    }
}
