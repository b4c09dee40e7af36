//! Connections (and closing one), channels and consumers.

use super::*; // the shared helpers and imports of `api`

pub(crate) fn connection_values(app: &App, who: &Authed, vhost: Option<&str>) -> Vec<Value> {
    app.broker()
        .connections()
        .iter()
        .filter(|c| who.sees_user(&c.user) && vhost.is_none_or(|v| v == c.vhost))
        .map(shapes::connection)
        .collect()
}

pub(crate) fn channel_values(
    app: &App,
    who: &Authed,
    vhost: Option<&str>,
    conn: Option<&str>,
) -> Vec<Value> {
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

pub(crate) async fn connections(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    answer_list(p, move || connection_values(&app, &who, None)).await
}

pub(crate) async fn vhost_connections(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    answer_list(p, move || connection_values(&app, &who, Some(&vhost))).await
}

pub(crate) fn find_connection(
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

pub(crate) async fn connection(
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
pub(crate) async fn connection_delete(
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

pub(crate) async fn connection_channels(
    State(app): AppState,
    who: Authed,
    Path(name): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    find_connection(&app, &who, &name)?;
    answer_list(p, move || channel_values(&app, &who, None, Some(&name))).await
}

pub(crate) async fn channels(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    answer_list(p, move || channel_values(&app, &who, None, None)).await
}

pub(crate) async fn vhost_channels(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    answer_list(p, move || channel_values(&app, &who, Some(&vhost), None)).await
}

pub(crate) async fn channel(
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

pub(crate) fn consumer_values(app: &App, who: &Authed, vhost: Option<&str>) -> Vec<Value> {
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

pub(crate) async fn consumers(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    answer_list(p, move || consumer_values(&app, &who, None)).await
}

pub(crate) async fn vhost_consumers(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    answer_list(p, move || consumer_values(&app, &who, Some(&vhost))).await
}
