//! The handlers of `/api/...`: each reads the broker's introspection or acts through
//! a connection of the request's user (so the broker checks that user's permissions,
//! as RabbitMQ's plugin does), and answers with RabbitMQ's status codes and shapes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::Authed;
use super::error::{ApiError, ApiResult};
use super::query::{self, Params, flag};
use super::rates::{self, Key};
use super::shapes::{self, NODE};
use super::{App, blocking, json, json_text, read_body};
use crate::broker::{
    BrokerError, Channel, ConnectOptions, Connection, ExchangeDeclare, Message, Permissions,
    PublishOptions, QueueDeclare, UserRecord, table_from_json,
};

type AppState = State<Arc<App>>;
type Q = Query<Params>;

/// RabbitMQ's version the API speaks (what `rabbitmq_version` tells tools).
const RABBITMQ_VERSION: &str = "3.10.8";

// ---- helpers ----

/// 404 unless the vhost exists and the user may see it.
fn check_vhost(app: &App, who: &Authed, vhost: &str) -> ApiResult<()> {
    if app.broker().vhosts().iter().any(|v| v == vhost) && who.sees_vhost(app, vhost) {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

/// The vhosts the user may see.
fn visible_vhosts(app: &App, who: &Authed) -> Vec<String> {
    let mut all = app.broker().vhosts();
    all.retain(|v| who.sees_vhost(app, v));
    all
}

/// A connection and channel of the request's user in `vhost`, not listed by
/// introspection, for acting as that user: 404 `vhost_not_found` for a missing vhost,
/// 401 when the user may not open it.
fn session(app: &App, who: &Authed, vhost: &str) -> ApiResult<(Connection, Channel)> {
    if !app.broker().vhosts().iter().any(|v| v == vhost) {
        return Err(ApiError::not_found_because("vhost_not_found"));
    }
    let options = ConnectOptions {
        vhost: vhost.into(),
        user: who.user.name.clone(),
        client_name: Some("management API".into()),
        ..ConnectOptions::default()
    };
    let conn = app
        .broker()
        .connect_unlisted(options)
        .map_err(|_| ApiError::access_refused())?;
    let ch = conn.open_channel().map_err(|e| ApiError::broker(&e))?;
    Ok((conn, ch))
}

/// A request body as a JSON object: empty is `{}`; not JSON (or not an object) is
/// RabbitMQ's `not_json`.
async fn body_object(body: Body) -> ApiResult<Map<String, Value>> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request("not_json")),
    }
}

/// A boolean field: JSON `true`/`false` or the strings rabbitmqadmin sends.
fn bool_field(m: &Map<String, Value>, key: &str, default: bool) -> ApiResult<bool> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(ApiError::bad_request(json!(["not_boolean", other]))),
    }
}

/// A string field (numbers as their text).
fn text_field(m: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::bad_request(json!(["not_string", key]))),
    }
}

/// The fields RabbitMQ requires, reported together when missing
/// (`[{key_missing,properties}]`).
fn require(m: &Map<String, Value>, keys: &[&str]) -> ApiResult<()> {
    let missing: Vec<String> = keys
        .iter()
        .filter(|k| !m.contains_key(**k))
        .map(|k| format!("{{key_missing,{k}}}"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!("[{}]", missing.join(","))))
    }
}

/// `arguments` of a body.
fn arguments_field(m: &Map<String, Value>) -> ApiResult<crate::FieldTable> {
    table_from_json(m.get("arguments").unwrap_or(&Value::Null))
        .map_err(|e| ApiError::bad_request(format!("arguments: {e}")))
}

fn created(new: bool) -> Response {
    if new {
        StatusCode::CREATED.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// The default exchange's path name.
fn exchange_name(name: &str) -> &str {
    if name == "amq.default" { "" } else { name }
}

// ---- overview, whoami, nodes, health ----

/// Whether memory is over the watermark (RabbitMQ's memory alarm).
fn memory_alarm(app: &App) -> bool {
    let watermark = app.shared.config.limits.memory_high_watermark;
    watermark != 0 && app.shared.memory_in_use() >= watermark
}

pub(super) async fn overview(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    blocking(move || {
        let broker = app.broker();
        let vhosts = visible_vhosts(&app, &who);
        let (mut exchanges, mut queues, mut ready, mut unacked) = (0usize, 0usize, 0u64, 0u64);
        let mut counts = [0u64; rates::COUNTERS.len()];
        for v in &vhosts {
            let (Ok(info), Ok(qs)) = (broker.vhost_info(v), broker.queues(v)) else {
                continue;
            };
            exchanges += info.exchanges;
            queues += qs.len();
            for q in &qs {
                ready += q.ready;
                unacked += q.unacked;
            }
            for (t, c) in counts.iter_mut().zip(rates::vhost_counts(&info, &qs)) {
                *t += c;
            }
        }
        let conns: Vec<_> = broker
            .connections()
            .into_iter()
            .filter(|c| who.sees_user(&c.user))
            .collect();
        let channels: usize = conns.iter().map(|c| c.channels).sum();
        let ids: std::collections::HashSet<u64> = conns.iter().map(|c| c.id).collect();
        let consumers = broker
            .consumers()
            .iter()
            .filter(|k| ids.contains(&k.connection))
            .count();
        let stats = shapes::message_stats(&counts, &app.rates(), &Key::Broker, &shapes::VHOST_STATS);
        let zero = json!({"rate": 0.0});
        let listeners: Vec<Value> = app
            .amqp
            .iter()
            .map(|a| json!({"node": NODE, "protocol": "amqp", "ip_address": a.ip().to_string(), "port": a.port()}))
            .collect();
        let value = json!({
            "cluster_name": NODE,
            "contexts": [{"node": NODE, "description": "trackswitch management", "path": "/", "port": app.http.port().to_string()}],
            "disable_stats": false,
            "enable_queue_totals": true,
            "erlang_full_version": "none (trackswitch is written in Rust)",
            "erlang_version": "none",
            "exchange_types": [
                {"name": "direct", "description": "AMQP direct exchange, as per the AMQP specification", "enabled": true},
                {"name": "fanout", "description": "AMQP fanout exchange, as per the AMQP specification", "enabled": true},
                {"name": "headers", "description": "AMQP headers exchange, as per the AMQP specification", "enabled": true},
                {"name": "topic", "description": "AMQP topic exchange, as per the AMQP specification", "enabled": true},
            ],
            "listeners": listeners,
            "management_version": RABBITMQ_VERSION,
            "message_stats": stats,
            "node": NODE,
            "object_totals": {
                "channels": channels,
                "connections": conns.len(),
                "consumers": consumers,
                "exchanges": exchanges,
                "queues": queues,
            },
            "product_name": "trackswitch",
            "product_version": env!("CARGO_PKG_VERSION"),
            "queue_totals": {
                "messages": ready + unacked,
                "messages_details": zero,
                "messages_ready": ready,
                "messages_ready_details": zero,
                "messages_unacknowledged": unacked,
                "messages_unacknowledged_details": zero,
            },
            "rabbitmq_version": RABBITMQ_VERSION,
            "rates_mode": "basic",
            "statistics_db_event_queue": 0,
        });
        json(&query::one(value, &p))
    })
    .await
}

pub(super) async fn whoami(who: Authed) -> Response {
    json(&json!({"name": who.user.name, "tags": who.user.tags}))
}

pub(super) async fn extensions(_who: Authed) -> Response {
    json(&json!([]))
}

pub(super) async fn nodes(State(app): AppState, who: Authed) -> ApiResult<Response> {
    who.require_monitor()?;
    let limits = &app.shared.config.limits;
    Ok(json(&json!([{
        "name": NODE,
        "type": "disc",
        "running": true,
        "mem_used": app.shared.memory_in_use(),
        "mem_limit": limits.memory_high_watermark,
        "mem_alarm": memory_alarm(&app),
        "disk_free_limit": limits.disk_free_limit,
        "disk_free_alarm": app.broker().disk_alarm(),
        "uptime": 0,
    }])))
}

/// `/api/health/checks/alarms` (and `local-alarms`: one node): 200 `{"status":"ok"}`,
/// or 503 with the alarms in effect.
pub(super) async fn alarms(State(app): AppState, _who: Authed) -> Response {
    let mut alarms = Vec::new();
    if memory_alarm(&app) {
        alarms.push(json!({"node": NODE, "resource": "memory"}));
    }
    if app.broker().disk_alarm() {
        alarms.push(json!({"node": NODE, "resource": "disk"}));
    }
    if alarms.is_empty() {
        json(&json!({"status": "ok"}))
    } else {
        let body = json!({"status": "failed", "reason": "There are alarms in effect in the cluster", "alarms": alarms});
        (StatusCode::SERVICE_UNAVAILABLE, json(&body)).into_response()
    }
}

/// `/api/aliveness-test/vhost`: declares `aliveness-test`, publishes to it and gets
/// the message back, as the user.
pub(super) async fn aliveness(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let q = "aliveness-test";
    let fail = |e: BrokerError| ApiError::broker(&e);
    ch.queue_declare(q, &QueueDeclare::default())
        .map_err(fail)?;
    ch.publish(
        "",
        q,
        Message::new("test_message"),
        PublishOptions::default(),
    )
    .map_err(fail)?;
    match ch.get(q, true).map_err(fail)? {
        Some(got) if got.delivery.body() == b"test_message" => Ok(json(&json!({"status": "ok"}))),
        _ => Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            json(&json!({"status": "failed", "reason": "the test message did not come back"})),
        )
            .into_response()),
    }
}

// ---- vhosts ----

fn vhost_value(app: &App, name: &str) -> Option<Value> {
    let broker = app.broker();
    let info = broker.vhost_info(name).ok()?;
    let qs = broker.queues(name).ok()?;
    let (ready, unacked) = qs
        .iter()
        .fold((0, 0), |(r, u), q| (r + q.ready, u + q.unacked));
    let counts = rates::vhost_counts(&info, &qs);
    let zero = json!({"rate": 0.0});
    Some(json!({
        "cluster_state": {NODE: "running"},
        "default_queue_type": "undefined",
        "description": "",
        "message_stats": shapes::message_stats(&counts, &app.rates(), &Key::Vhost(name.into()), &shapes::VHOST_STATS),
        "messages": ready + unacked,
        "messages_details": zero,
        "messages_ready": ready,
        "messages_ready_details": zero,
        "messages_unacknowledged": unacked,
        "messages_unacknowledged_details": zero,
        "metadata": {"description": "", "tags": []},
        "name": name,
        "tags": [],
        "tracing": false,
    }))
}

pub(super) async fn vhosts(State(app): AppState, who: Authed, Query(p): Q) -> ApiResult<Response> {
    blocking(move || {
        let items = visible_vhosts(&app, &who)
            .iter()
            .filter_map(|v| vhost_value(&app, v))
            .collect();
        query::list(items, &p).map(|v| json(&v))
    })
    .await?
}

pub(super) async fn vhost(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    let v = vhost_value(&app, &vhost).ok_or_else(ApiError::not_found)?;
    Ok(json(&query::one(v, &p)))
}

pub(super) async fn vhost_put(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    who.require_admin()?;
    let _ = body_object(body).await?; // description, tags: not kept
    let new = app.broker().add_vhost(&vhost);
    if new {
        // RabbitMQ grants the creating user everything in a new vhost.
        let _ = app
            .broker()
            .set_permissions(&who.user.name, &vhost, Permissions::all());
    }
    Ok(created(new))
}

pub(super) async fn vhost_delete(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    who.require_admin()?;
    let broker = app.broker().clone();
    if blocking(move || broker.delete_vhost(&vhost)).await? {
        Ok(no_content())
    } else {
        Err(ApiError::not_found())
    }
}

pub(super) async fn vhost_permissions(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    check_vhost(&app, &who, &vhost)?;
    let items = all_permissions(&app)
        .into_iter()
        .filter(|v| v["vhost"] == vhost.as_str())
        .collect();
    query::list(items, &p).map(|v| json(&v))
}

// ---- connections, channels, consumers ----

fn connection_values(app: &App, who: &Authed, vhost: Option<&str>) -> Vec<Value> {
    app.broker()
        .connections()
        .iter()
        .filter(|c| who.sees_user(&c.user) && vhost.is_none_or(|v| v == c.vhost))
        .map(shapes::connection)
        .collect()
}

fn channel_values(app: &App, who: &Authed, vhost: Option<&str>, conn: Option<&str>) -> Vec<Value> {
    let broker = app.broker();
    let conns = shapes::by_id(broker.connections());
    broker
        .channels()
        .iter()
        .filter_map(|ch| {
            let c = conns.get(&ch.connection)?;
            let keep = who.sees_user(&c.user)
                && vhost.is_none_or(|v| v == c.vhost)
                && conn.is_none_or(|n| n == shapes::connection_name(c));
            keep.then(|| shapes::channel(ch, c))
        })
        .collect()
}

pub(super) async fn connections(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    blocking(move || query::list(connection_values(&app, &who, None), &p).map(|v| json(&v))).await?
}

pub(super) async fn vhost_connections(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    blocking(move || query::list(connection_values(&app, &who, Some(&vhost)), &p).map(|v| json(&v)))
        .await?
}

fn find_connection(
    app: &App,
    who: &Authed,
    name: &str,
) -> ApiResult<crate::broker::ConnectionInfo> {
    app.broker()
        .connections()
        .into_iter()
        .find(|c| shapes::connection_name(c) == name && who.sees_user(&c.user))
        .ok_or_else(ApiError::not_found)
}

pub(super) async fn connection(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    let c = find_connection(&app, &who, &name)?;
    Ok(json(&query::one(shapes::connection(&c), &p)))
}

/// Closes a connection: the client gets 320 CONNECTION_FORCED with the `X-Reason`
/// header's text (default RabbitMQ's, `Closed via management plugin`).
pub(super) async fn connection_delete(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let c = find_connection(&app, &who, &name)?;
    if c.user != who.user.name && !who.is_admin() {
        return Err(ApiError::not_authorised("Not administrator user"));
    }
    let reason = headers
        .get("x-reason")
        .and_then(|v| v.to_str().ok())
        .filter(|r| !r.is_empty())
        .unwrap_or("Closed via management plugin");
    let reason: String = reason.chars().take(200).collect();
    if app.broker().close_connection(c.id, 320, &reason) {
        Ok(no_content())
    } else {
        Err(ApiError::not_found())
    }
}

pub(super) async fn connection_channels(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    find_connection(&app, &who, &name)?;
    blocking(move || {
        query::list(channel_values(&app, &who, None, Some(&name)), &p).map(|v| json(&v))
    })
    .await?
}

pub(super) async fn channels(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    blocking(move || query::list(channel_values(&app, &who, None, None), &p).map(|v| json(&v)))
        .await?
}

pub(super) async fn vhost_channels(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    blocking(move || {
        query::list(channel_values(&app, &who, Some(&vhost), None), &p).map(|v| json(&v))
    })
    .await?
}

pub(super) async fn channel(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    channel_values(&app, &who, None, None)
        .into_iter()
        .find(|c| c["name"] == name.as_str())
        .map(|c| json(&query::one(c, &p)))
        .ok_or_else(ApiError::not_found)
}

fn consumer_values(app: &App, who: &Authed, vhost: Option<&str>) -> Vec<Value> {
    let broker = app.broker();
    let conns = shapes::by_id(broker.connections());
    broker
        .consumers()
        .iter()
        .filter_map(|k| {
            let c = conns.get(&k.connection)?;
            let keep = who.sees_vhost(app, &c.vhost) && vhost.is_none_or(|v| v == c.vhost);
            keep.then(|| shapes::consumer(k, c))
        })
        .collect()
}

pub(super) async fn consumers(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    blocking(move || query::list(consumer_values(&app, &who, None), &p).map(|v| json(&v))).await?
}

pub(super) async fn vhost_consumers(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    blocking(move || query::list(consumer_values(&app, &who, Some(&vhost)), &p).map(|v| json(&v)))
        .await?
}

// ---- exchanges ----

fn exchange_values(app: &App, vhost: &str) -> Vec<Value> {
    app.broker()
        .exchanges(vhost)
        .map(|xs| xs.iter().map(|x| shapes::exchange(x, vhost)).collect())
        .unwrap_or_default()
}

/// The objects `values` makes of one vhost (checked first) or of every vhost the
/// user sees, as the query asks for them; made on a blocking thread.
async fn listing(
    app: Arc<App>,
    who: Authed,
    vhost: Option<String>,
    p: Params,
    values: fn(&App, &str) -> Vec<Value>,
) -> ApiResult<Response> {
    let vhosts = match vhost {
        Some(v) => {
            check_vhost(&app, &who, &v)?;
            vec![v]
        }
        None => visible_vhosts(&app, &who),
    };
    blocking(move || {
        let items = vhosts.iter().flat_map(|v| values(&app, v)).collect();
        query::list(items, &p).map(|v| json(&v))
    })
    .await?
}

pub(super) async fn exchanges(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    listing(app, who, None, p, exchange_values).await
}

pub(super) async fn vhost_exchanges(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    listing(app, who, Some(vhost), p, exchange_values).await
}

fn find_exchange(app: &App, vhost: &str, name: &str) -> ApiResult<Value> {
    let name = exchange_name(name);
    exchange_values(app, vhost)
        .into_iter()
        .find(|x| x["name"] == name)
        .ok_or_else(ApiError::not_found)
}

pub(super) async fn exchange(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    Ok(json(&query::one(find_exchange(&app, &vhost, &name)?, &p)))
}

pub(super) async fn exchange_put(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let m = body_object(body).await?;
    if name == "amq.default" || name.starts_with("amq.") {
        return Err(ApiError::access_refused());
    }
    let kind = text_field(&m, "type")?.unwrap_or_else(|| "direct".into());
    if kind.parse::<crate::ExchangeKind>().is_err() {
        return Err(ApiError::bad_request(format!(
            "invalid exchange type '{kind}'"
        )));
    }
    let options = ExchangeDeclare {
        passive: false,
        durable: bool_field(&m, "durable", true)?,
        auto_delete: bool_field(&m, "auto_delete", false)?,
        internal: bool_field(&m, "internal", false)?,
        arguments: arguments_field(&m)?,
    };
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let existed = app
        .broker()
        .exchanges(&vhost)
        .is_ok_and(|xs| xs.iter().any(|x| x.name == name));
    ch.exchange_declare(&name, &kind, &options)
        .map_err(|e| ApiError::broker(&e))?;
    Ok(created(!existed))
}

pub(super) async fn exchange_delete(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    let name = exchange_name(&name).to_owned();
    if name.is_empty() || name.starts_with("amq.") {
        return Err(ApiError::access_refused());
    }
    check_vhost(&app, &who, &vhost)?;
    find_exchange(&app, &vhost, &name)?;
    let (_conn, ch) = session(&app, &who, &vhost)?;
    ch.exchange_delete(&name, flag(&p, "if-unused"))
        .map_err(|e| ApiError::broker(&e))?;
    Ok(no_content())
}

fn binding_values(app: &App, vhost: &str) -> Vec<Value> {
    let broker = app.broker();
    let mut out: Vec<Value> = broker
        .queues(vhost)
        .map(|qs| {
            qs.iter()
                .map(|q| shapes::default_binding(&q.name, vhost))
                .collect()
        })
        .unwrap_or_default();
    if let Ok(bs) = broker.bindings(vhost) {
        out.extend(bs.iter().map(|b| shapes::binding(b, vhost)));
    }
    out
}

async fn filtered_bindings(
    app: Arc<App>,
    who: Authed,
    vhost: String,
    p: Params,
    keep: impl Fn(&Value) -> bool + Send + 'static,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    blocking(move || {
        let items = binding_values(&app, &vhost)
            .into_iter()
            .filter(|b| keep(b))
            .collect();
        query::list(items, &p).map(|v| json(&v))
    })
    .await?
}

pub(super) async fn exchange_bindings_source(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    let name = find_exchange(&app, &vhost, &name)?["name"].clone();
    filtered_bindings(app, who, vhost, p, move |b| b["source"] == name).await
}

pub(super) async fn exchange_bindings_destination(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    let name = find_exchange(&app, &vhost, &name)?["name"].clone();
    filtered_bindings(app, who, vhost, p, move |b| {
        b["destination"] == name && b["destination_type"] == "exchange"
    })
    .await
}

/// Publishes a message: `properties`, `routing_key`, `payload` and
/// `payload_encoding` (`string` or `base64`) are required; answers
/// `{"routed": bool}`.
pub(super) async fn publish(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let m = body_object(body).await?;
    require(
        &m,
        &["properties", "routing_key", "payload", "payload_encoding"],
    )?;
    let properties = shapes::properties_in(&m["properties"])?;
    let routing_key = text_field(&m, "routing_key")?.unwrap_or_default();
    let payload = text_field(&m, "payload")?.unwrap_or_default();
    let body = match text_field(&m, "payload_encoding")?.as_deref() {
        Some("string") => payload.into_bytes(),
        Some("base64") => crate::amqp::auth::base64_decode(&payload)
            .ok_or_else(|| ApiError::bad_request(json!(["not_base64", payload])))?,
        other => {
            return Err(ApiError::bad_request(json!([
                "unsupported_encoding",
                other
            ])));
        }
    };
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let mut message = Message::new(body);
    message.properties = properties;
    let published = ch
        .publish(
            exchange_name(&name),
            &routing_key,
            message,
            PublishOptions::default(),
        )
        .map_err(|e| ApiError::broker_with_code(&e))?;
    Ok(json(&json!({"routed": published.queues > 0})))
}

// ---- queues ----

fn queue_values(app: &App, vhost: &str) -> Vec<Value> {
    let Ok(qs) = app.broker().queues(vhost) else {
        return Vec::new();
    };
    let rates = app.rates();
    qs.iter().map(|q| shapes::queue(q, vhost, &rates)).collect()
}

pub(super) async fn queues(State(app): AppState, who: Authed, Query(p): Q) -> ApiResult<Response> {
    listing(app, who, None, p, queue_values).await
}

pub(super) async fn vhost_queues(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    listing(app, who, Some(vhost), p, queue_values).await
}

fn find_queue(app: &App, vhost: &str, name: &str) -> ApiResult<Value> {
    let qs = app
        .broker()
        .queues(vhost)
        .map_err(|_| ApiError::not_found())?;
    let q = qs
        .iter()
        .find(|q| q.name == name)
        .ok_or_else(ApiError::not_found)?;
    Ok(shapes::queue(q, vhost, &app.rates()))
}

pub(super) async fn queue(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    Ok(json(&query::one(find_queue(&app, &vhost, &name)?, &p)))
}

pub(super) async fn queue_put(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let m = body_object(body).await?;
    let options = QueueDeclare {
        passive: false,
        durable: bool_field(&m, "durable", true)?,
        exclusive: false,
        auto_delete: bool_field(&m, "auto_delete", false)?,
        arguments: arguments_field(&m)?,
    };
    if name.is_empty() {
        return Err(ApiError::not_found());
    }
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let existed = app
        .broker()
        .queues(&vhost)
        .is_ok_and(|qs| qs.iter().any(|q| q.name == name));
    ch.queue_declare(&name, &options)
        .map_err(|e| ApiError::broker(&e))?;
    Ok(created(!existed))
}

pub(super) async fn queue_delete(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    find_queue(&app, &vhost, &name)?;
    let (_conn, ch) = session(&app, &who, &vhost)?;
    ch.queue_delete(&name, flag(&p, "if-unused"), flag(&p, "if-empty"))
        .map_err(|e| match e.reply_code() {
            404 => ApiError::not_found(),
            _ => ApiError::broker(&e),
        })?;
    Ok(no_content())
}

pub(super) async fn queue_purge(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    find_queue(&app, &vhost, &name)?;
    let (_conn, ch) = session(&app, &who, &vhost)?;
    ch.queue_purge(&name).map_err(|e| ApiError::broker(&e))?;
    Ok(no_content())
}

pub(super) async fn queue_bindings(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    find_queue(&app, &vhost, &name)?;
    filtered_bindings(app, who, vhost, p, move |b| {
        b["destination"] == name.as_str() && b["destination_type"] == "queue"
    })
    .await
}

/// The most messages one get request takes (RabbitMQ has no limit; the body of the
/// answer is bounded by this and `truncate`).
const MAX_GET: u64 = 10_000;

/// Gets messages: `count`, `ackmode` (`ack_requeue_true`, `ack_requeue_false`,
/// `reject_requeue_true`, `reject_requeue_false`), `encoding` (`auto`, `base64`),
/// optional `truncate` (bytes of payload shown).
pub(super) async fn queue_get(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let m = body_object(body).await?;
    require(&m, &["count", "ackmode", "encoding"])?;
    let count: u64 = text_field(&m, "count")?
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ApiError::bad_request(json!(["not_int", "count"])))?;
    let ackmode = text_field(&m, "ackmode")?.unwrap_or_default();
    let (requeue, reject) = match ackmode.as_str() {
        "ack_requeue_true" => (true, false),
        "ack_requeue_false" => (false, false),
        "reject_requeue_true" => (true, true),
        "reject_requeue_false" => (false, true),
        _ => {
            return Err(ApiError::bad_request(format!(
                "unknown ackmode '{ackmode}'"
            )));
        }
    };
    let base64 = match text_field(&m, "encoding")?.as_deref() {
        Some("auto") => false,
        Some("base64") => true,
        _ => {
            return Err(ApiError::bad_request(
                "Unsupported encoding. Please use auto or base64.",
            ));
        }
    };
    let truncate = match m.get("truncate") {
        None | Some(Value::Null) => None,
        _ => Some(
            text_field(&m, "truncate")?
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| ApiError::bad_request(json!(["not_int", "truncate"])))?,
        ),
    };
    check_vhost(&app, &who, &vhost)?;
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let mut out = Vec::new();
    let mut tags = Vec::new();
    for _ in 0..count.min(MAX_GET) {
        let got = ch.get(&name, false).map_err(|e| match e.reply_code() {
            404 => ApiError::not_found_because(e.reply_text()),
            _ => ApiError::broker(&e),
        })?;
        let Some(got) = got else { break };
        let d = &got.delivery;
        let body = d.body();
        let shown = &body[..truncate.map_or(body.len(), |t| t.min(body.len()))];
        let (payload, encoding) = match std::str::from_utf8(shown) {
            Ok(s) if !base64 => (s.to_owned(), "string"),
            _ => (crate::amqp::auth::base64_encode(shown), "base64"),
        };
        out.push(json!({
            "payload_bytes": body.len(),
            "redelivered": d.redelivered(),
            "exchange": d.exchange(),
            "routing_key": d.routing_key(),
            "message_count": got.message_count,
            "properties": shapes::properties_out(&d.message().properties),
            "payload": payload,
            "payload_encoding": encoding,
        }));
        tags.push(d.delivery_tag());
    }
    for tag in tags {
        let settled = if reject || requeue {
            ch.nack(tag, false, requeue)
        } else {
            ch.ack(tag, false)
        };
        settled.map_err(|e| ApiError::broker(&e))?;
    }
    ch.close();
    Ok(json(&Value::Array(out)))
}

// ---- bindings ----

pub(super) async fn bindings(
    State(app): AppState,
    who: Authed,
    Query(mut p): Q,
) -> ApiResult<Response> {
    // Bindings are never paginated (RabbitMQ ignores `page` here).
    p.remove("page");
    listing(app, who, None, p, binding_values).await
}

pub(super) async fn vhost_bindings(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(mut p): Q,
) -> ApiResult<Response> {
    p.remove("page");
    filtered_bindings(app, who, vhost, p, |_| true).await
}

/// `q` or `e` in a binding path.
fn destination_type(kind: &str) -> ApiResult<&'static str> {
    match kind {
        "q" => Ok("queue"),
        "e" => Ok("exchange"),
        _ => Err(ApiError::not_found()),
    }
}

pub(super) async fn bindings_between(
    State(app): AppState,
    who: Authed,
    Path((vhost, source, kind, destination)): Path<(String, String, String, String)>,
    Query(mut p): Q,
) -> ApiResult<Response> {
    let dtype = destination_type(&kind)?;
    p.remove("page");
    let source = exchange_name(&source).to_owned();
    filtered_bindings(app, who, vhost, p, move |b| {
        b["source"] == source.as_str()
            && b["destination"] == destination.as_str()
            && b["destination_type"] == dtype
    })
    .await
}

pub(super) async fn binding_post(
    State(app): AppState,
    who: Authed,
    Path((vhost, source, kind, destination)): Path<(String, String, String, String)>,
    body: Body,
) -> ApiResult<Response> {
    let dtype = destination_type(&kind)?;
    let m = body_object(body).await?;
    let key = text_field(&m, "routing_key")?.unwrap_or_default();
    let arguments = arguments_field(&m)?;
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let source = exchange_name(&source);
    let result = if dtype == "queue" {
        ch.queue_bind(&destination, source, &key, &arguments)
    } else {
        ch.exchange_bind(&destination, source, &key, &arguments)
    };
    result.map_err(|e| ApiError::broker(&e))?;
    let props = shapes::properties_key(&key, &crate::broker::table_to_json(&arguments));
    let location = format!("{}/{props}", shapes::percent_encode(&destination));
    let mut response = StatusCode::CREATED.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// The binding a `properties_key` names (the key as the path decodes it).
async fn find_binding(
    app: &Arc<App>,
    who: &Authed,
    vhost: &str,
    source: &str,
    dtype: &str,
    destination: &str,
    props: &str,
) -> ApiResult<Value> {
    check_vhost(app, who, vhost)?;
    let (app, vhost, source, dtype, destination, props) = (
        Arc::clone(app),
        vhost.to_owned(),
        exchange_name(source).to_owned(),
        dtype.to_owned(),
        destination.to_owned(),
        props.to_owned(),
    );
    blocking(move || {
        binding_values(&app, &vhost).into_iter().find(|b| {
            b["source"] == source.as_str()
                && b["destination"] == destination.as_str()
                && b["destination_type"] == dtype.as_str()
                && b["properties_key"]
                    .as_str()
                    .is_some_and(|k| k == props || percent_decode(k) == props)
        })
    })
    .await?
    .ok_or_else(ApiError::not_found)
}

/// Undoes [`shapes::percent_encode`] (a path segment arrives decoded).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) async fn binding_one(
    State(app): AppState,
    who: Authed,
    Path((vhost, source, kind, destination, props)): Path<(String, String, String, String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    let dtype = destination_type(&kind)?;
    let b = find_binding(&app, &who, &vhost, &source, dtype, &destination, &props).await?;
    Ok(json(&query::one(b, &p)))
}

pub(super) async fn binding_delete(
    State(app): AppState,
    who: Authed,
    Path((vhost, source, kind, destination, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let dtype = destination_type(&kind)?;
    let b = find_binding(&app, &who, &vhost, &source, dtype, &destination, &props).await?;
    let key = b["routing_key"].as_str().unwrap_or_default();
    let arguments = table_from_json(&b["arguments"]).map_err(ApiError::bad_request)?;
    let source = exchange_name(&source);
    if source.is_empty() {
        return Err(ApiError::access_refused()); // the default exchange's implicit binding
    }
    let (_conn, ch) = session(&app, &who, &vhost)?;
    let removed = if dtype == "queue" {
        ch.queue_unbind(&destination, source, key, &arguments)
    } else {
        ch.exchange_unbind(&destination, source, key, &arguments)
    };
    removed.map_err(|e| ApiError::broker(&e))?;
    Ok(no_content())
}

// ---- definitions ----

pub(super) async fn definitions(State(app): AppState, who: Authed) -> ApiResult<Response> {
    who.require_admin()?;
    let broker = app.broker().clone();
    Ok(json_text(
        blocking(move || broker.export_definitions()).await?,
    ))
}

/// The sections of a vhost's definitions (RabbitMQ's per-vhost export).
const VHOST_SECTIONS: [&str; 3] = ["queues", "exchanges", "bindings"];

pub(super) async fn vhost_definitions(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
) -> ApiResult<Response> {
    who.require_admin()?;
    check_vhost(&app, &who, &vhost)?;
    let broker = app.broker().clone();
    let text = blocking(move || broker.export_definitions()).await?;
    let full: Value = serde_json::from_str(&text).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut out = Map::new();
    out.insert("rabbit_version".into(), full["rabbit_version"].clone());
    out.insert("parameters".into(), json!([]));
    out.insert("policies".into(), json!([]));
    for section in VHOST_SECTIONS {
        let items: Vec<Value> = full[section]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["vhost"] == vhost.as_str())
            .map(|o| {
                let mut o = o.clone();
                if let Some(m) = o.as_object_mut() {
                    m.remove("vhost");
                }
                o
            })
            .collect();
        out.insert(section.into(), Value::Array(items));
    }
    Ok(json(&Value::Object(out)))
}

async fn import(app: &App, text: String) -> ApiResult<Response> {
    let broker = app.broker().clone();
    match blocking(move || broker.import_definitions(&text)).await? {
        Ok(report) => {
            for w in &report.warnings {
                tracing::warn!("definitions import: {w}");
            }
            Ok(no_content())
        }
        Err(e) => Err(ApiError::bad_request(e.to_string())),
    }
}

pub(super) async fn definitions_post(
    State(app): AppState,
    who: Authed,
    body: Body,
) -> ApiResult<Response> {
    who.require_admin()?;
    let bytes = read_body(body).await?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request("failed_to_parse_json"))?;
    if serde_json::from_str::<Value>(&text).is_err() {
        return Err(ApiError::bad_request("failed_to_parse_json"));
    }
    import(&app, text).await
}

pub(super) async fn vhost_definitions_post(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    who.require_admin()?;
    check_vhost(&app, &who, &vhost)?;
    let bytes = read_body(body).await?;
    let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(ApiError::bad_request("failed_to_parse_json"));
    };
    // Only a vhost's sections; each object lands in this vhost.
    doc.retain(|k, _| {
        VHOST_SECTIONS.contains(&k.as_str()) || k == "rabbit_version" || k == "rabbitmq_version"
    });
    for section in VHOST_SECTIONS {
        if let Some(Value::Array(items)) = doc.get_mut(section) {
            for o in items.iter_mut() {
                if let Some(m) = o.as_object_mut() {
                    m.insert("vhost".into(), vhost.clone().into());
                }
            }
        }
    }
    import(&app, Value::Object(doc).to_string()).await
}

// ---- users and permissions ----

pub(super) async fn users(
    State(app): AppState,
    who: Authed,
    Query(mut p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    p.remove("page");
    let items = app.broker().users().iter().map(shapes::user).collect();
    query::list(items, &p).map(|v| json(&v))
}

pub(super) async fn user(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    let u = app.broker().user(&name).ok_or_else(ApiError::not_found)?;
    Ok(json(&query::one(shapes::user(&u), &p)))
}

/// Creates or updates a user: `password` (hashed here, RabbitMQ's SHA-256 scheme) or
/// `password_hash` (+ `hashing_algorithm`), and `tags` (required: a comma-separated
/// string or a list).
pub(super) async fn user_put(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    who.require_admin()?;
    let m = body_object(body).await?;
    let tags: Vec<String> = match m.get("tags") {
        None => return Err(ApiError::bad_request("tags_not_present")),
        Some(Value::String(s)) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ApiError::bad_request(json!(["not_string", "tags"]))),
    };
    let existing = app.broker().user(&name);
    let (hash, algorithm) = if let Some(password) = text_field(&m, "password")? {
        (
            crate::amqp::User::new(&name, &password).password_hash,
            UserRecord::SHA256.to_owned(),
        )
    } else if let Some(hash) = text_field(&m, "password_hash")? {
        let algorithm =
            text_field(&m, "hashing_algorithm")?.unwrap_or_else(|| UserRecord::SHA256.into());
        (hash, algorithm)
    } else {
        match &existing {
            Some(u) => (u.password_hash.clone(), u.hashing_algorithm.clone()),
            None => (String::new(), UserRecord::SHA256.to_owned()),
        }
    };
    let record = UserRecord {
        tags,
        hashing_algorithm: algorithm,
        ..UserRecord::new(&name, hash)
    };
    Ok(created(app.broker().add_user(record)))
}

pub(super) async fn user_delete(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    who.require_admin()?;
    if app.broker().delete_user(&name) {
        Ok(no_content())
    } else {
        Err(ApiError::not_found())
    }
}

fn all_permissions(app: &App) -> Vec<Value> {
    let broker = app.broker();
    broker
        .users()
        .iter()
        .flat_map(|u| {
            broker
                .permissions(&u.name)
                .into_iter()
                .map(|(vhost, p)| shapes::permission(&u.name, &vhost, &p))
                .collect::<Vec<_>>()
        })
        .collect()
}

pub(super) async fn permissions(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    query::list(all_permissions(&app), &p).map(|v| json(&v))
}

pub(super) async fn user_permissions(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    app.broker().user(&name).ok_or_else(ApiError::not_found)?;
    let items = all_permissions(&app)
        .into_iter()
        .filter(|v| v["user"] == name.as_str())
        .collect();
    query::list(items, &p).map(|v| json(&v))
}

pub(super) async fn permission(
    State(app): AppState,
    who: Authed,
    Path((vhost, user)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    all_permissions(&app)
        .into_iter()
        .find(|v| v["user"] == user.as_str() && v["vhost"] == vhost.as_str())
        .map(|v| json(&query::one(v, &p)))
        .ok_or_else(ApiError::not_found)
}

pub(super) async fn permission_put(
    State(app): AppState,
    who: Authed,
    Path((vhost, user)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Response> {
    who.require_admin()?;
    let m = body_object(body).await?;
    require(&m, &["configure", "write", "read"])?;
    let field = |k: &str| text_field(&m, k).map(Option::unwrap_or_default);
    let p = Permissions::new(field("configure")?, field("write")?, field("read")?);
    let existed = app
        .broker()
        .permissions(&user)
        .iter()
        .any(|(v, _)| *v == vhost);
    match app.broker().set_permissions(&user, &vhost, p) {
        Ok(()) => Ok(created(!existed)),
        Err(crate::broker::PermissionsError::InvalidRegex {
            pattern, reason, ..
        }) => Err(ApiError::bad_request(json!([
            "invalid_regexp",
            pattern,
            reason
        ]))),
        Err(_) => Err(ApiError::bad_request("vhost_or_user_not_found")),
    }
}

pub(super) async fn permission_delete(
    State(app): AppState,
    who: Authed,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    who.require_admin()?;
    if app.broker().clear_permissions(&user, &vhost) {
        Ok(no_content())
    } else {
        Err(ApiError::not_found())
    }
}
