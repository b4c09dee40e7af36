//! HTTP basic authentication against the broker's users, with RabbitMQ's rules: the
//! `Authorization` header only (never a cookie), the login rules of the AMQP listener
//! (`loopback_users`), and the management tags: a user needs `management`,
//! `policymaker`, `monitoring` or `administrator` to use the API at all;
//! `monitoring` and `administrator` see every vhost and connection, `administrator`
//! alone manages vhosts, users, permissions and definitions.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::App;
use super::error::{ApiError, ApiResult};
use crate::broker::UserRecord;

/// The tags that let a user in (RabbitMQ's management user tags).
const MANAGEMENT_TAGS: [&str; 4] = ["management", "policymaker", "monitoring", "administrator"];

/// The authenticated user of a request.
#[derive(Debug)]
pub(super) struct Authed {
    pub(super) user: UserRecord,
}

impl Authed {
    fn has(&self, tag: &str) -> bool {
        self.user.tags.iter().any(|t| t == tag)
    }

    /// `administrator`.
    pub(super) fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    /// `administrator` or `monitoring`: sees everything.
    pub(super) fn sees_all(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    /// Refuses a user who is not `administrator` (401, as RabbitMQ).
    pub(super) fn require_admin(&self) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not administrator user"))
        }
    }

    /// Refuses a user who does not see everything (401, as RabbitMQ).
    pub(super) fn require_monitor(&self) -> ApiResult<()> {
        if self.sees_all() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not monitor user"))
        }
    }

    /// Whether the user may see objects of `vhost`: it sees everything, or it has
    /// permissions there.
    pub(super) fn sees_vhost(&self, app: &App, vhost: &str) -> bool {
        self.sees_all()
            || app
                .broker()
                .permissions(&self.user.name)
                .iter()
                .any(|(v, _)| v == vhost)
    }

    /// Whether the user may see a connection (or its channels) of `owner`: its own,
    /// or it sees everything.
    pub(super) fn sees_user(&self, owner: &str) -> bool {
        self.sees_all() || self.user.name == owner
    }
}

impl FromRequestParts<Arc<App>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> ApiResult<Authed> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| ApiError::internal("no peer address"))?;
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::no_credentials());
        };
        let (name, password) = parse_basic(value.as_bytes()).ok_or_else(ApiError::login_failed)?;
        let user = crate::amqp::auth::login(
            app.broker(),
            &app.shared.config,
            &name,
            Some(&password),
            peer,
        )
        .map_err(|reason| {
            tracing::warn!(%peer, user = %name, %reason, "HTTP access refused");
            ApiError::login_failed()
        })?;
        let authed = Authed { user };
        if !MANAGEMENT_TAGS.iter().any(|t| authed.has(t)) {
            return Err(ApiError::not_authorised("Not management user"));
        }
        Ok(authed)
    }
}

/// `Basic base64(name:password)`: the name and password (the password is what
/// follows the first `:`), or `None` if the header is not that.
pub(super) fn parse_basic(value: &[u8]) -> Option<(String, String)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = crate::amqp::auth::base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse_basic;

    #[test]
    fn basic_credentials_are_parsed_or_refused() {
        // "guest:guest", and a password holding ':'.
        assert_eq!(
            parse_basic(b"Basic Z3Vlc3Q6Z3Vlc3Q="),
            Some(("guest".into(), "guest".into()))
        );
        assert_eq!(
            parse_basic(b"basic YTpiOmM="),
            Some(("a".into(), "b:c".into()))
        );
        for bad in [
            &b""[..],
            b"Basic",
            b"Bearer Z3Vlc3Q6Z3Vlc3Q=",
            b"Basic !!!",
            b"Basic Z3Vlc3Q=", // no ':'
            b"Basic /w==",     // not UTF-8
            b"\xff\xfe",
        ] {
            assert_eq!(parse_basic(bad), None, "{bad:?}");
        }
    }
}
