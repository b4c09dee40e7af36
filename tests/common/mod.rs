//! Helpers shared by the `table*` test files: build a table, route, and read the
//! result as sorted queue names.

// Each test file uses its own subset of these helpers.
#![allow(dead_code)]

use trackswitch::{
    Destination, ExchangeKind, ExchangeOptions, FieldTable, FieldValue, RouteResult, RoutingTable,
};

/// The empty argument table.
pub(crate) fn none() -> FieldTable {
    FieldTable::new()
}

/// No queue at all, for comparisons with [`routed`].
pub(crate) const NOWHERE: [&str; 0] = [];

/// The names of the queues in `result`, sorted.
pub(crate) fn names<'t>(table: &'t RoutingTable, result: &RouteResult) -> Vec<&'t str> {
    let mut v: Vec<&str> = result
        .queues()
        .iter()
        .map(|&id| table.queue_name(id).expect("a routed queue exists"))
        .collect();
    v.sort_unstable();
    let before = v.len();
    v.dedup();
    assert_eq!(before, v.len(), "a queue appeared twice in one route");
    v
}

/// Routes a message without headers; returns the sorted names of the queues reached.
pub(crate) fn routed<'t>(
    table: &'t RoutingTable,
    exchange: &str,
    key: impl AsRef<[u8]>,
) -> Vec<&'t str> {
    let result = table
        .route(exchange, key, None)
        .unwrap_or_else(|e| panic!("route to '{exchange}' failed: {e}"));
    names(table, &result)
}

/// Routes a message with headers; returns the sorted names of the queues reached.
pub(crate) fn routed_h<'t>(
    table: &'t RoutingTable,
    exchange: &str,
    key: impl AsRef<[u8]>,
    headers: &FieldTable,
) -> Vec<&'t str> {
    let result = table
        .route(exchange, key, Some(headers))
        .unwrap_or_else(|e| panic!("route to '{exchange}' failed: {e}"));
    names(table, &result)
}

/// Declares an exchange with default options.
pub(crate) fn exchange(table: &mut RoutingTable, name: &str, kind: ExchangeKind) {
    table
        .declare_exchange(name, kind, &ExchangeOptions::default())
        .expect("declare exchange");
}

/// Declares an exchange with options.
pub(crate) fn exchange_with(
    table: &mut RoutingTable,
    name: &str,
    kind: ExchangeKind,
    options: ExchangeOptions,
) {
    table
        .declare_exchange(name, kind, &options)
        .expect("declare exchange");
}

/// Options with an alternate exchange.
pub(crate) fn with_ae(name: &str) -> ExchangeOptions {
    ExchangeOptions {
        alternate_exchange: Some(name.to_owned()),
        ..ExchangeOptions::default()
    }
}

/// Options of an auto-delete exchange.
pub(crate) fn auto_delete() -> ExchangeOptions {
    ExchangeOptions {
        auto_delete: true,
        ..ExchangeOptions::default()
    }
}

/// Declares `queue` (if needed) and binds it to `exchange` with `key` and no arguments;
/// the binding must be new.
pub(crate) fn bind_q(table: &mut RoutingTable, exchange: &str, queue: &str, key: impl AsRef<[u8]>) {
    bind_q_args(table, exchange, queue, key, &none());
}

/// As [`bind_q`], with arguments.
pub(crate) fn bind_q_args(
    table: &mut RoutingTable,
    exchange: &str,
    queue: &str,
    key: impl AsRef<[u8]>,
    args: &FieldTable,
) {
    table.declare_queue(queue).expect("declare queue");
    let added = table
        .bind(exchange, Destination::Queue(queue), key, args)
        .unwrap_or_else(|e| panic!("bind '{exchange}' -> queue '{queue}' failed: {e}"));
    assert!(
        added,
        "binding '{exchange}' -> queue '{queue}' already existed"
    );
}

/// Binds exchange `destination` to `source` with `key`; the binding must be new.
pub(crate) fn bind_x(
    table: &mut RoutingTable,
    source: &str,
    destination: &str,
    key: impl AsRef<[u8]>,
) {
    let added = table
        .bind(source, Destination::Exchange(destination), key, &none())
        .unwrap_or_else(|e| panic!("bind '{source}' -> exchange '{destination}' failed: {e}"));
    assert!(
        added,
        "binding '{source}' -> exchange '{destination}' already existed"
    );
}

/// A field table from (name, value) pairs.
pub(crate) fn table_of(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries.iter().cloned().collect()
}

/// A `CC`/`BCC` header value: an array of long strings.
pub(crate) fn keys(keys: &[&str]) -> FieldValue {
    FieldValue::Array(keys.iter().map(|&k| FieldValue::from(k)).collect())
}
