//! Users and permissions.

use super::*; // the shared helpers and imports of `api`

pub(crate) async fn users(
    State(app): AppState,
    who: Authed,
    Query(mut p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    p.remove("page");
    let items = app.broker().users().iter().map(shapes::user).collect();
    query::list(items, &p).map(|v| json(&v))
}

pub(crate) async fn user(
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
pub(crate) async fn user_put(
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

pub(crate) async fn user_delete(
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

pub(crate) fn all_permissions(app: &App) -> Vec<Value> {
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

pub(crate) async fn permissions(
    State(app): AppState,
    who: Authed,
    Query(p): Q,
) -> ApiResult<Response> {
    who.require_admin()?;
    query::list(all_permissions(&app), &p).map(|v| json(&v))
}

pub(crate) async fn user_permissions(
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

pub(crate) async fn permission(
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

pub(crate) async fn permission_put(
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

pub(crate) async fn permission_delete(
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
