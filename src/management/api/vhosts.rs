//! Virtual hosts.

use super::*; // the shared helpers and imports of `api`

pub(crate) fn vhost_value(app: &App, name: &str) -> Option<Value> {
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

pub(crate) async fn vhosts(State(app): AppState, who: Authed, Query(p): Q) -> ApiResult<Response> {
    answer_list(p, move || {
        visible_vhosts(&app, &who)
            .iter()
            .filter_map(|v| vhost_value(&app, v))
            .collect()
    })
    .await
}

pub(crate) async fn vhost(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(p): Q,
) -> ApiResult<Response> {
    check_vhost(&app, &who, &vhost)?;
    let v = vhost_value(&app, &vhost).ok_or_else(ApiError::not_found)?;
    Ok(json(&query::one(v, &p)))
}

pub(crate) async fn vhost_put(
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

pub(crate) async fn vhost_delete(
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

pub(crate) async fn vhost_permissions(
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
