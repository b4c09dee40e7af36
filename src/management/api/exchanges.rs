//! Exchanges, their bindings, and publishing through them.

use super::*; // the shared helpers and imports of `api`

pub(crate) fn exchange_values(app: &App, vhost: &str) -> Vec<Value> {
    app.broker()
        .exchanges(vhost)
        .map(|xs| xs.iter().map(|x| shapes::exchange(x, vhost)).collect())
        .unwrap_or_default()
}

/// The objects `values` makes of one vhost (checked first) or of every vhost the
/// user sees, as the query asks for them; made on a blocking thread.
pub(crate) async fn listing(
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
    answer_list(p, move || {
        vhosts.iter().flat_map(|v| values(&app, v)).collect()
    })
    .await
}

pub(crate) async fn exchanges(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    listing(app, who, None, p, exchange_values).await
}

pub(crate) async fn vhost_exchanges(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    listing(app, who, Some(vhost), p, exchange_values).await
}

pub(crate) fn find_exchange(app: &App, vhost: &str, name: &str) -> ApiResult<Value> {
    let name = exchange_name(name);
    exchange_values(app, vhost)
        .into_iter()
        .find(|x| x["name"] == name)
        .ok_or_else(ApiError::not_found)
}

pub(crate) async fn exchange(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    Ok(json(&query::one(find_exchange(&app, &vhost, &name)?, &p)))
}

pub(crate) async fn exchange_put(
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

pub(crate) async fn exchange_delete(
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

pub(crate) fn binding_values(app: &App, vhost: &str) -> Vec<Value> {
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

pub(crate) async fn filtered_bindings(
    app: Arc<App>,
    who: Authed,
    vhost: String,
    p: Params,
    keep: impl Fn(&Value) -> bool + Send + 'static,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    answer_list(p, move || {
        binding_values(&app, &vhost)
            .into_iter()
            .filter(|b| keep(b))
            .collect()
    })
    .await
}

pub(crate) async fn exchange_bindings_source(
    State(app): AppState,
    who: Authed,
    Path((vhost, name)): Path<(String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    let name = find_exchange(&app, &vhost, &name)?["name"].clone();
    filtered_bindings(app, who, vhost, p, move |b| b["source"] == name).await
}

pub(crate) async fn exchange_bindings_destination(
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
pub(crate) async fn publish(
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
