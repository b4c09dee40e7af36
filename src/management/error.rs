//! The API's errors: RabbitMQ's status codes and `{"error", "reason"}` bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::broker::BrokerError;

/// An answer other than success: a status and RabbitMQ's JSON body
/// (`{"error":"bad_request","reason":"..."}`), or no body at all.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    /// `(error, reason)`; `None` for an empty body.
    body: Option<(&'static str, serde_json::Value)>,
    /// Asks for credentials (`WWW-Authenticate`).
    challenge: bool,
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(status: StatusCode, error: &'static str, reason: impl Into<serde_json::Value>) -> Self {
        ApiError {
            status,
            body: Some((error, reason.into())),
            challenge: false,
        }
    }

    /// 400 `bad_request`.
    pub(super) fn bad_request(reason: impl Into<serde_json::Value>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }

    /// 400 with RabbitMQ's own `error` for a pagination problem.
    pub(super) fn pagination(error: &'static str, reason: String) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, error, reason)
    }

    /// 404 as RabbitMQ answers for an object (or path) that is not there.
    pub(super) fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "Object Not Found", "Not Found")
    }

    /// 404 `not_found` with a reason (a missing vhost or queue named in a request).
    pub(super) fn not_found_because(reason: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", reason.into())
    }

    /// 401 without credentials: no body, a challenge.
    pub(super) fn no_credentials() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            body: None,
            challenge: true,
        }
    }

    /// 401 for wrong credentials: `not_authorized` / `Login failed`, a challenge.
    pub(super) fn login_failed() -> Self {
        ApiError {
            challenge: true,
            ..ApiError::new(StatusCode::UNAUTHORIZED, "not_authorized", "Login failed")
        }
    }

    /// 401 `not_authorised` for an authenticated user who may not do this.
    pub(super) fn not_authorised(reason: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "not_authorised", reason.into())
    }

    /// 401 `Access refused.` (permissions, or the default and `amq.*` exchanges).
    pub(super) fn access_refused() -> Self {
        ApiError::not_authorised("Access refused.")
    }

    /// A broker refusal, as RabbitMQ's management plugin maps it: 403 ACCESS_REFUSED
    /// to 401, 404 NOT_FOUND to 404 (`not_found` and the text), anything else to 400
    /// with the text (without the code's name).
    pub(super) fn broker(e: &BrokerError) -> Self {
        let text = e.reply_text();
        let bare = text
            .split_once(" - ")
            .map_or(text.as_str(), |(_, t)| t)
            .to_owned();
        match e.reply_code() {
            403 => ApiError::access_refused(),
            404 => ApiError::not_found_because(bare),
            _ => ApiError::bad_request(bare),
        }
    }

    /// A broker refusal reported with its code, as the publish endpoint does
    /// (`"404 NOT_FOUND - no exchange 'x' in vhost '/'"`): 400, 401 for 403.
    pub(super) fn broker_with_code(e: &BrokerError) -> Self {
        match e.reply_code() {
            403 => ApiError::access_refused(),
            code => ApiError::bad_request(format!("{code} {}", e.reply_text())),
        }
    }

    /// An internal failure (a task that died): 500.
    pub(super) fn internal(reason: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            reason.into(),
        )
    }

    /// The status, for logs and tests.
    #[cfg(test)]
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some((error, reason)) => (
                self.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                serde_json::json!({ "error": error, "reason": reason }).to_string(),
            )
                .into_response(),
            None => self.status.into_response(),
        };
        if self.challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
            );
        }
        response
    }
}
