//! The paths of the API, the UI and the metrics, as RabbitMQ's management plugin
//! spells them; anything else is RabbitMQ's 404.

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use super::error::ApiError;
use super::{App, api, metrics, ui};

pub(super) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(ui::index))
        .route("/index.html", get(ui::index))
        .route("/app.js", get(ui::script))
        .route("/style.css", get(ui::style))
        .route("/metrics", get(metrics::aggregated))
        .route("/metrics/per-object", get(metrics::per_object))
        .route("/api/overview", get(api::overview))
        .route("/api/whoami", get(api::whoami))
        .route("/api/extensions", get(api::extensions))
        .route("/api/nodes", get(api::nodes))
        .route("/api/health/checks/alarms", get(api::alarms))
        .route("/api/health/checks/local-alarms", get(api::alarms))
        .route("/api/aliveness-test/{vhost}", get(api::aliveness))
        .route("/api/vhosts", get(api::vhosts))
        .route(
            "/api/vhosts/{vhost}",
            get(api::vhost)
                .put(api::vhost_put)
                .delete(api::vhost_delete),
        )
        .route(
            "/api/vhosts/{vhost}/permissions",
            get(api::vhost_permissions),
        )
        .route(
            "/api/vhosts/{vhost}/connections",
            get(api::vhost_connections),
        )
        .route("/api/vhosts/{vhost}/channels", get(api::vhost_channels))
        .route("/api/connections", get(api::connections))
        .route(
            "/api/connections/{name}",
            get(api::connection).delete(api::connection_delete),
        )
        .route(
            "/api/connections/{name}/channels",
            get(api::connection_channels),
        )
        .route("/api/channels", get(api::channels))
        .route("/api/channels/{name}", get(api::channel))
        .route("/api/consumers", get(api::consumers))
        .route("/api/consumers/{vhost}", get(api::vhost_consumers))
        .route("/api/exchanges", get(api::exchanges))
        .route("/api/exchanges/{vhost}", get(api::vhost_exchanges))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(api::exchange)
                .put(api::exchange_put)
                .delete(api::exchange_delete),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/source",
            get(api::exchange_bindings_source),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/destination",
            get(api::exchange_bindings_destination),
        )
        .route("/api/exchanges/{vhost}/{name}/publish", post(api::publish))
        .route("/api/queues", get(api::queues))
        .route("/api/queues/{vhost}", get(api::vhost_queues))
        .route(
            "/api/queues/{vhost}/{name}",
            get(api::queue)
                .put(api::queue_put)
                .delete(api::queue_delete),
        )
        .route(
            "/api/queues/{vhost}/{name}/bindings",
            get(api::queue_bindings),
        )
        .route(
            "/api/queues/{vhost}/{name}/contents",
            delete(api::queue_purge),
        )
        .route("/api/queues/{vhost}/{name}/get", post(api::queue_get))
        .route("/api/bindings", get(api::bindings))
        .route("/api/bindings/{vhost}", get(api::vhost_bindings))
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}",
            get(api::bindings_between).post(api::binding_post),
        )
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}",
            get(api::binding_one).delete(api::binding_delete),
        )
        .route(
            "/api/definitions",
            get(api::definitions).post(api::definitions_post),
        )
        .route(
            "/api/definitions/{vhost}",
            get(api::vhost_definitions).post(api::vhost_definitions_post),
        )
        .route("/api/users", get(api::users))
        .route(
            "/api/users/{name}",
            get(api::user).put(api::user_put).delete(api::user_delete),
        )
        .route("/api/users/{name}/permissions", get(api::user_permissions))
        .route("/api/permissions", get(api::permissions))
        .route(
            "/api/permissions/{vhost}/{user}",
            get(api::permission)
                .put(api::permission_put)
                .delete(api::permission_delete),
        )
        .fallback(|| async { ApiError::not_found() })
        .with_state(app)
}
