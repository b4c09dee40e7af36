//! Bindings: list, create, find and delete by `properties_key`.

use super::*; // the shared helpers and imports of `api`

pub(crate) async fn bindings(
    State(app): AppState,
    who: Authed,
    Query(mut p): Q,
) -> ApiResult<Response> {
    // Bindings are never paginated (RabbitMQ ignores `page` here).
    p.remove("page");
    listing(app, who, None, p, binding_values).await
}

pub(crate) async fn vhost_bindings(
    State(app): AppState,
    who: Authed,
    Path(vhost): Path<String>,
    Query(mut p): Q,
) -> ApiResult<Response> {
    p.remove("page");
    filtered_bindings(app, who, vhost, p, |_| true).await
}

/// `q` or `e` in a binding path.
pub(crate) fn destination_type(kind: &str) -> ApiResult<&'static str> {
    match kind {
        "q" => Ok("queue"),
        "e" => Ok("exchange"),
        _ => Err(ApiError::not_found()),
    }
}

pub(crate) async fn bindings_between(
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

pub(crate) async fn binding_post(
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
pub(crate) async fn find_binding(
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
pub(crate) fn percent_decode(s: &str) -> String {
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

pub(crate) async fn binding_one(
    State(app): AppState,
    who: Authed,
    Path((vhost, source, kind, destination, props)): Path<(String, String, String, String, String)>,
    Query(p): Q,
) -> ApiResult<Response> {
    let dtype = destination_type(&kind)?;
    let b = find_binding(&app, &who, &vhost, &source, dtype, &destination, &props).await?;
    Ok(json(&query::one(b, &p)))
}

pub(crate) async fn binding_delete(
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
