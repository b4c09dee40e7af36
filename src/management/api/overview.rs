//! Overview, whoami, nodes, the health checks and the aliveness test.

use super::*; // the shared helpers and imports of `api`

/// Whether memory is over the watermark (RabbitMQ's memory alarm).
pub(crate) fn memory_alarm(app: &App) -> bool {
    let watermark = app.shared.config.limits.memory_high_watermark;
    watermark != 0 && app.shared.memory_in_use() >= watermark
}

pub(crate) async fn overview(
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

pub(crate) async fn whoami(who: Authed) -> Response {
    json(&json!({"name": who.user.name, "tags": who.user.tags}))
}

pub(crate) async fn extensions(_who: Authed) -> Response {
    json(&json!([]))
}

pub(crate) async fn nodes(State(app): AppState, who: Authed) -> ApiResult<Response> {
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
pub(crate) async fn alarms(State(app): AppState, _who: Authed) -> Response {
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
pub(crate) async fn aliveness(
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
