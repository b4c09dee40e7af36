//! Definitions export and import, whole or per vhost.

use super::*; // the shared helpers and imports of `api`

pub(crate) async fn definitions(State(app): AppState, who: Authed) -> ApiResult<Response> {
    who.require_admin()?;
    let broker = app.broker().clone();
    Ok(json_text(
        blocking(move || broker.export_definitions()).await?,
    ))
}

/// The sections of a vhost's definitions (RabbitMQ's per-vhost export).
pub(crate) const VHOST_SECTIONS: [&str; 3] = ["queues", "exchanges", "bindings"];

pub(crate) async fn vhost_definitions(
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

pub(crate) async fn import(app: &App, text: String) -> ApiResult<Response> {
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

pub(crate) async fn definitions_post(
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

pub(crate) async fn vhost_definitions_post(
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
