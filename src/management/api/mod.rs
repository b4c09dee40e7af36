//! The handlers of `/api/...`: each reads the broker's introspection or acts through
//! a connection of the request's user (so the broker checks that user's permissions,
//! as RabbitMQ's plugin does), and answers with RabbitMQ's status codes and shapes.
//! One file per group of endpoints; the helpers they share are here.

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

mod bindings;
mod clients;
mod definitions;
mod exchanges;
mod overview;
mod queues;
mod users;
mod vhosts;

pub(super) use bindings::*;
pub(super) use clients::*;
pub(super) use definitions::*;
pub(super) use exchanges::*;
pub(super) use overview::*;
pub(super) use queues::*;
pub(super) use users::*;
pub(super) use vhosts::*;

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

/// A list made on a blocking thread, answered as the query asks for it.
async fn answer_list(
    p: Params,
    make: impl FnOnce() -> Vec<Value> + Send + 'static,
) -> ApiResult<Response> {
    blocking(move || query::list(make(), &p).map(|v| json(&v))).await?
}
