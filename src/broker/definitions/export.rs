//! The definitions file as written by an export: serde types with RabbitMQ's field
//! names, in the order RabbitMQ's management API writes them.
//!
//! Owns the written shape only; what goes in it is `mod.rs`'s (reading the broker).
//! Reading a file is `format`'s.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

use super::arguments::Arguments;
use super::format::{DestinationType, RABBITMQ_FORMAT_VERSION};

use crate::ExchangeKind;

/// A definitions file to write. `Serialize` writes fields in declaration order, which
/// here is alphabetical, as RabbitMQ's management API writes them.
#[derive(Debug, Serialize)]
pub(super) struct Export {
    pub(super) bindings: Vec<BindingOut>,
    pub(super) exchanges: Vec<ExchangeOut>,
    global_parameters: Empty,
    parameters: Empty,
    pub(super) permissions: Vec<PermissionOut>,
    policies: Empty,
    product_name: &'static str,
    product_version: &'static str,
    pub(super) queues: Vec<QueueOut>,
    rabbit_version: &'static str,
    rabbitmq_version: &'static str,
    topic_permissions: Empty,
    pub(super) users: Vec<UserOut>,
    pub(super) vhosts: Vec<VhostOut>,
}

impl Export {
    /// No objects; the versions filled in, the sections without an equivalent empty.
    pub(super) fn new() -> Export {
        Export {
            bindings: Vec::new(),
            exchanges: Vec::new(),
            global_parameters: Empty,
            parameters: Empty,
            permissions: Vec::new(),
            policies: Empty,
            product_name: "trackswitch",
            product_version: env!("CARGO_PKG_VERSION"),
            queues: Vec::new(),
            rabbit_version: RABBITMQ_FORMAT_VERSION,
            rabbitmq_version: RABBITMQ_FORMAT_VERSION,
            topic_permissions: Empty,
            users: Vec::new(),
            vhosts: Vec::new(),
        }
    }

    /// The file, pretty-printed.
    pub(super) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .expect("the export has string keys and no fallible Serialize impl")
    }
}

/// A section written empty: `[]`.
#[derive(Debug)]
struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_seq(Some(0))?.end()
    }
}

/// An object written empty: `{}`.
#[derive(Debug)]
pub(super) struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_map(Some(0))?.end()
    }
}

/// A user to write, with RabbitMQ 3.10.8's fields (`limits` always empty: the broker
/// has no user limits).
#[derive(Debug, Serialize)]
pub(super) struct UserOut {
    pub(super) hashing_algorithm: String,
    pub(super) limits: EmptyObject,
    pub(super) name: String,
    pub(super) password_hash: String,
    pub(super) tags: Vec<String>,
}

/// A user's permissions in a vhost to write.
#[derive(Debug, Serialize)]
pub(super) struct PermissionOut {
    pub(super) configure: String,
    pub(super) read: String,
    pub(super) user: String,
    pub(super) vhost: String,
    pub(super) write: String,
}

/// A vhost to write.
#[derive(Debug, Serialize)]
pub(super) struct VhostOut {
    pub(super) name: String,
}

/// An exchange to write.
#[derive(Debug, Serialize)]
pub(super) struct ExchangeOut {
    pub(super) arguments: Arguments,
    pub(super) auto_delete: bool,
    pub(super) durable: bool,
    pub(super) internal: bool,
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: ExchangeKind,
    pub(super) vhost: String,
}

/// A queue to write.
#[derive(Debug, Serialize)]
pub(super) struct QueueOut {
    pub(super) arguments: Arguments,
    pub(super) auto_delete: bool,
    pub(super) durable: bool,
    pub(super) name: String,
    pub(super) vhost: String,
}

/// A binding to write.
#[derive(Debug, Serialize)]
pub(super) struct BindingOut {
    pub(super) arguments: Arguments,
    pub(super) destination: String,
    pub(super) destination_type: DestinationType,
    pub(super) routing_key: String,
    pub(super) source: String,
    pub(super) vhost: String,
}

impl BindingOut {
    /// The export's order of bindings: by source, destination type, destination,
    /// routing key, then the arguments as compact JSON.
    pub(super) fn sort_key(&self) -> (String, &'static str, String, String, String) {
        (
            self.source.clone(),
            self.destination_type.as_str(),
            self.destination.clone(),
            self.routing_key.clone(),
            serde_json::to_string(&self.arguments)
                .expect("arguments have string keys and no fallible Serialize impl"),
        )
    }
}
