//! Queues: declare, delete, purge, get.

use super::*; // the shared helpers and imports of `api`

pub(crate) fn queue_values(app: &App, vhost: &str) -> Vec<Value> {
    let Ok(qs) = app.broker().queues(vhost) else {
        return Vec::new();
    };
    let rates = app.rates();
    qs.iter().map(|q| shapes::queue(q, vhost, &rates)).collect()
}

pub(crate) async fn queues(State(app): AppState, who: Authed, Query(p): Q) -> ApiResult<Response> {
    listing(app, who, None, p, queue_values).await
}

pub(crate) async fn vhost_queues(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    listing(app, who, Some(vhost), p, queue_values).await
}

pub(crate) fn find_queue(app: &App, vhost: &str, name: &str) -> ApiResult<Value> {
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

pub(crate) async fn queue(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    Ok(json(&query::one(find_queue(&app, &vhost, &name)?, &p)))
}

pub(crate) async fn queue_put(
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

pub(crate) async fn queue_delete(
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

pub(crate) async fn queue_purge(
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

pub(crate) async fn queue_bindings(
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
pub(crate) const MAX_GET: u64 = 10_000;

/// Gets messages: `count`, `ackmode` (`ack_requeue_true`, `ack_requeue_false`,
/// `reject_requeue_true`, `reject_requeue_false`), `encoding` (`auto`, `base64`),
/// optional `truncate` (bytes of payload shown).
pub(crate) async fn queue_get(
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
