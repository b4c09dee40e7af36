//! Definitions import and export (`Broker::import_definitions`,
//! `Broker::export_definitions`) against a file RabbitMQ itself wrote.
//!
//! Source of `tests/data/definitions/rabbitmq.json`: RabbitMQ 3.10.8 (Debian
//! 3.10.8-1.1+deb12u1, Erlang 25.2.3) started with `shared/tools/rabbit/start.sh`
//! (`RABBIT_PORT=5679`). Users, permissions, topic permissions, a vhost limit, an
//! operator policy and the cluster name were set with `rabbitmqctl`
//! (`add_user`, `set_permissions`, `set_topic_permissions`, `set_vhost_limits`,
//! `set_operator_policy`, `set_cluster_name`); exchanges, queues, bindings and policies
//! were loaded with `rabbitmqctl import_definitions`; the file is the output of
//! `rabbitmqctl export_definitions`, re-indented (`json.dump(indent=2)`, key order
//! kept), otherwise unchanged. The password hashes are of throwaway passwords.
//!
//! Found on the way: 3.10.8's `export_definitions` leaves internal exchanges out (but
//! keeps their bindings) and writes no `internal` field, so the file has no internal
//! exchange (`audit` was made non-internal); it writes a queue `type` and no
//! `product_name`/`product_version`.
//!
//! Checked the other way too: this crate's export of the file, imported into the same
//! node after `rabbitmqctl reset`, re-exported to the same exchanges, queues and
//! bindings (ignoring `internal` and queue `type`); an exchange with `"internal": true`
//! in this crate's format imported as internal.
//!
//! Users and permissions: the file's `users` and `permissions` sections are what
//! `rabbitmqctl export_definitions` wrote for users made with `add_user`,
//! `set_user_tags` and `set_permissions` (a throwaway user on the probe node exported
//! the same fields in the same order: `hashing_algorithm`, `limits`, `name`,
//! `password_hash`, `tags` as an array; `configure`, `read`, `user`, `vhost`,
//! `write`).
//!
//! The routing table in `routing_after_import_agrees_with_rabbitmq` is what that
//! RabbitMQ node did: for each case every queue of the vhost was purged, one message
//! published with pika, and the queues with a message listed.
#![cfg(feature = "broker")]

use std::collections::BTreeSet;

use serde_json::Value;
use trackswitch::broker::{
    AccessControl, Broker, ConnectOptions, DefinitionsError, ExchangeDeclare, ManualClock, Message,
    Permissions, PublishOptions, QueueDeclare, UserRecord,
};
use trackswitch::{FieldTable, FieldValue};

const RABBITMQ_JSON: &str = include_str!("data/definitions/rabbitmq.json");

/// A broker on a manual clock, so that the 1 s TTL of `staging/orders.created`
/// cannot expire a message while a test looks at it.
fn broker() -> Broker {
    Broker::builder().clock(ManualClock::new()).build()
}

fn imported() -> Broker {
    let b = broker();
    b.import_definitions(RABBITMQ_JSON)
        .expect("the RabbitMQ export imports");
    b
}

fn s(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

// ----- what a vhost holds, in comparable form -----

type Exchanges = BTreeSet<(String, String, bool, bool, bool, Option<String>)>;
type Queues = BTreeSet<(String, bool, bool, String)>;
type Bindings = BTreeSet<(String, bool, String, String, String)>;

/// Exchanges, queues and bindings of `vhost`, without the pre-declared exchanges.
fn topology(b: &Broker, vhost: &str) -> (Exchanges, Queues, Bindings) {
    let xs = b
        .exchanges(vhost)
        .unwrap()
        .into_iter()
        .filter(|x| !x.name.is_empty() && !x.name.starts_with("amq."))
        .map(|x| {
            let kind = x.kind.as_str().to_owned();
            (
                x.name,
                kind,
                x.durable,
                x.auto_delete,
                x.internal,
                x.alternate_exchange,
            )
        })
        .collect();
    let qs = b
        .queues(vhost)
        .unwrap()
        .into_iter()
        .map(|q| (q.name, q.durable, q.auto_delete, sorted_table(&q.arguments)))
        .collect();
    let bs = b
        .bindings(vhost)
        .unwrap()
        .into_iter()
        .map(|x| {
            let args = sorted_table(&x.arguments);
            (
                x.source,
                x.destination_is_exchange,
                x.destination,
                x.routing_key,
                args,
            )
        })
        .collect();
    (xs, qs, bs)
}

/// A table's entries, sorted by name and written with integer widths erased.
fn sorted_table(t: &FieldTable) -> String {
    let mut entries: Vec<String> = t.iter().map(|(k, v)| format!("{k}={v}")).collect();
    entries.sort();
    entries.join(",")
}

/// The same, read from the JSON by simple code of its own.
fn topology_in_json(json: &Value, vhost: &str) -> (Exchanges, Queues, Bindings) {
    let in_vhost = |section: &str| -> Vec<Value> {
        json[section]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["vhost"] == vhost)
            .cloned()
            .collect()
    };
    let args = |o: &Value| -> String {
        let mut entries: Vec<String> = o["arguments"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s:?}"),
                other => format!("{k}={other}"),
            })
            .collect();
        entries.sort();
        entries.join(",")
    };
    let xs = in_vhost("exchanges")
        .iter()
        .map(|x| {
            (
                s(&x["name"]),
                s(&x["type"]),
                x["durable"].as_bool().unwrap(),
                x["auto_delete"].as_bool().unwrap(),
                x["internal"].as_bool().unwrap_or(false),
                x["arguments"]["alternate-exchange"]
                    .as_str()
                    .map(str::to_owned),
            )
        })
        .collect();
    let qs = in_vhost("queues")
        .iter()
        .map(|q| {
            (
                s(&q["name"]),
                q["durable"].as_bool().unwrap(),
                q["auto_delete"].as_bool().unwrap(),
                args(q),
            )
        })
        .collect();
    let bs = in_vhost("bindings")
        .iter()
        .map(|b| {
            (
                s(&b["source"]),
                b["destination_type"] == "exchange",
                s(&b["destination"]),
                s(&b["routing_key"]),
                args(b),
            )
        })
        .collect();
    (xs, qs, bs)
}

// ----- import -----

#[test]
fn import_rabbitmq_export_counts_and_warnings() {
    let b = broker();
    let report = b.import_definitions(RABBITMQ_JSON).unwrap();
    assert_eq!(report.exchanges, 9);
    assert_eq!(report.queues, 15);
    assert_eq!(report.bindings, 18);
    assert_eq!(report.vhosts, 1, "`/` existed, `staging` is new");
    assert_eq!((report.users, report.permissions), (2, 4));
    assert_eq!(
        report.warnings,
        [
            "global_parameters: 1 entry ignored (global parameters are not supported)",
            "parameters: 2 entries ignored (runtime parameters are not supported)",
            "policies: 2 entries ignored (policies are not supported)",
            "topic_permissions: 1 entry ignored (topic permissions are not supported)",
            "vhosts[1].limits: vhost limits are not supported, ignored",
        ]
    );
    assert_eq!(b.vhosts(), ["/", "staging"]);
}

#[test]
fn import_declares_what_the_file_describes() {
    let b = imported();
    let json: Value = serde_json::from_str(RABBITMQ_JSON).unwrap();
    for vhost in ["/", "staging"] {
        assert_eq!(
            topology(&b, vhost),
            topology_in_json(&json, vhost),
            "vhost {vhost}"
        );
    }
    // Arguments keep their JSON types: integers as long-long, strings as long strings.
    let q = b
        .queues("/")
        .unwrap()
        .into_iter()
        .find(|q| q.name == "orders.created")
        .unwrap();
    assert_eq!(
        q.arguments.get("x-message-ttl"),
        Some(&FieldValue::LongLongInt(60000))
    );
    assert_eq!(
        q.arguments.get("x-dead-letter-exchange"),
        Some(&FieldValue::from("dlx"))
    );
}

#[test]
fn importing_twice_is_idempotent() {
    let b = imported();
    let before = topology(&b, "/");
    let report = b.import_definitions(RABBITMQ_JSON).unwrap();
    assert_eq!((report.vhosts, report.bindings), (0, 18));
    assert_eq!(topology(&b, "/"), before);
}

// ----- export -----

#[test]
fn export_reimports_into_a_fresh_broker() {
    let a = imported();
    let json = a.export_definitions();
    let b = broker();
    let report = b.import_definitions(&json).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        (
            report.exchanges,
            report.queues,
            report.bindings,
            report.vhosts
        ),
        (9, 15, 18, 1)
    );
    assert_eq!((report.users, report.permissions), (2, 4));
    for vhost in ["/", "staging"] {
        assert_eq!(topology(&a, vhost), topology(&b, vhost), "vhost {vhost}");
    }
    assert_eq!(b.export_definitions(), json, "export is deterministic");
}

#[test]
fn export_has_rabbitmq_shape() {
    let json: Value = serde_json::from_str(&imported().export_definitions()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "bindings",
            "exchanges",
            "global_parameters",
            "parameters",
            "permissions",
            "policies",
            "product_name",
            "product_version",
            "queues",
            "rabbit_version",
            "rabbitmq_version",
            "topic_permissions",
            "users",
            "vhosts",
        ]
    );
    let orders = json["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "orders" && x["vhost"] == "/")
        .unwrap();
    assert_eq!(
        *orders,
        serde_json::json!({"arguments": {"alternate-exchange": "orders.unrouted"},
            "auto_delete": false, "durable": true, "internal": false, "name": "orders",
            "type": "topic", "vhost": "/"})
    );
    let any = json["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["destination"] == "events.any")
        .unwrap();
    assert_eq!(
        *any,
        serde_json::json!({"arguments": {"format": "pdf", "priority": 1, "x-match": "any"},
            "destination": "events.any", "destination_type": "queue", "routing_key": "",
            "source": "events.match", "vhost": "/"})
    );
    assert_eq!(
        json["vhosts"],
        serde_json::json!([{"name": "/"}, {"name": "staging"}])
    );
}

#[test]
fn export_leaves_out_default_amq_and_exclusive() {
    let b = broker();
    let conn = b.connect_default();
    let ch = conn.open_channel().unwrap();
    ch.queue_declare("reply", &QueueDeclare::exclusive())
        .unwrap();
    ch.queue_bind("reply", "amq.direct", "reply", &FieldTable::new())
        .unwrap();
    ch.queue_declare("work", &QueueDeclare::default()).unwrap();
    ch.queue_bind("work", "amq.topic", "w.#", &FieldTable::new())
        .unwrap();
    ch.exchange_declare(
        "hidden",
        "fanout",
        &ExchangeDeclare {
            internal: true,
            ..ExchangeDeclare::default()
        },
    )
    .unwrap();
    let json: Value = serde_json::from_str(&b.export_definitions()).unwrap();
    let names = |section: &str| -> Vec<String> {
        json[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| s(&o["name"]))
            .collect()
    };
    assert_eq!(names("exchanges"), ["hidden"], "internal ones are kept");
    assert_eq!(names("queues"), ["work"]);
    let bindings = json["bindings"].as_array().unwrap();
    assert_eq!(bindings.len(), 1);
    assert_eq!(bindings[0]["source"], "amq.topic");
}

// ----- routing after import -----

/// (vhost, exchange, routing key, headers as JSON, queues RabbitMQ 3.10.8 delivered to).
const ROUTES: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "/",
        "orders",
        "order.created",
        "",
        &["orders.all", "orders.created"],
    ),
    (
        "/",
        "orders",
        "order.created.eu",
        "",
        &["orders.all", "orders.eu"],
    ),
    (
        "/",
        "orders",
        "order.cancelled.eu",
        "",
        &["audit.log", "orders.all", "orders.eu"],
    ),
    ("/", "orders", "refund.cancelled", "", &["audit.log"]),
    ("/", "orders", "shipment.sent", "", &["orders.unrouted"]),
    ("/", "orders", "order", "", &["orders.all"]),
    ("/", "orders", "", "", &["orders.unrouted"]),
    (
        "/",
        "billing",
        "invoice",
        "",
        &["billing.invoices", "notify.email", "notify.sms"],
    ),
    (
        "/",
        "billing",
        "invoice.priority",
        "",
        &["billing.invoices"],
    ),
    ("/", "billing", "refund", "", &["billing.refunds"]),
    ("/", "billing", "other", "", &[]),
    (
        "/",
        "notifications",
        "anything",
        "",
        &["notify.email", "notify.sms"],
    ),
    (
        "/",
        "events.match",
        "",
        r#"{"format": "pdf", "type": "report"}"#,
        &["events.any", "events.pdf-reports"],
    ),
    (
        "/",
        "events.match",
        "",
        r#"{"format": "pdf"}"#,
        &["events.any"],
    ),
    (
        "/",
        "events.match",
        "",
        r#"{"priority": 1}"#,
        &["events.any"],
    ),
    ("/", "events.match", "", r#"{"type": "report"}"#, &[]),
    (
        "/",
        "events.match",
        "",
        r#"{"format": "csv", "type": "report"}"#,
        &[],
    ),
    ("/", "events.match", "", "", &[]),
    ("/", "dlx", "whatever", "", &["dead.letters"]),
    ("/", "audit", "x.y", "", &["audit.log"]),
    ("/", "orders.unrouted", "k", "", &["orders.unrouted"]),
    (
        "staging",
        "orders",
        "order.created",
        "",
        &["orders.all", "orders.created"],
    ),
    ("staging", "orders", "x", "", &["orders.all"]),
    ("staging", "billing", "invoice", "", &["billing.invoices"]),
    ("staging", "billing", "refund", "", &[]),
];

fn headers(json: &str) -> FieldTable {
    let v: Value = serde_json::from_str(json).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => FieldValue::from(s.as_str()),
                // As pika sends a small integer: a 32-bit one (widths compare equal).
                Value::Number(n) => FieldValue::LongInt(n.as_i64().unwrap() as i32),
                other => panic!("unexpected header {other}"),
            };
            (k.clone(), v)
        })
        .collect()
}

fn check_routes(b: &Broker) {
    for &(vhost, exchange, key, hdrs, expected) in ROUTES {
        let conn = b
            .connect(trackswitch::broker::ConnectOptions {
                vhost: vhost.into(),
                ..Default::default()
            })
            .unwrap();
        let ch = conn.open_channel().unwrap();
        let queues: Vec<String> = b
            .queues(vhost)
            .unwrap()
            .into_iter()
            .map(|q| q.name)
            .collect();
        for q in &queues {
            ch.queue_purge(q).unwrap();
        }
        let mut message = Message::new("x");
        if !hdrs.is_empty() {
            message = message.with_headers(headers(hdrs));
        }
        let _ = ch
            .publish(exchange, key, message, PublishOptions::default())
            .unwrap();
        let got: Vec<&str> = queues
            .iter()
            .filter(|q| {
                ch.queue_declare(q, &QueueDeclare::passive())
                    .unwrap()
                    .message_count
                    > 0
            })
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(got, expected, "{vhost} {exchange} {key:?} {hdrs}");
    }
}

#[test]
fn routing_after_import_agrees_with_rabbitmq() {
    check_routes(&imported());
}

#[test]
fn routing_after_export_and_reimport_agrees_with_rabbitmq() {
    let b = broker();
    b.import_definitions(&imported().export_definitions())
        .unwrap();
    check_routes(&b);
}

// ----- order -----

#[test]
fn bindings_may_precede_the_exchanges_they_name() {
    let json = r#"{
      "bindings": [
        {"source": "a", "vhost": "v", "destination": "b", "destination_type": "exchange",
         "routing_key": "k", "arguments": {}},
        {"source": "b", "vhost": "v", "destination": "q", "destination_type": "queue",
         "routing_key": "", "arguments": {}}
      ],
      "queues": [{"name": "q", "vhost": "v", "durable": false, "auto_delete": false,
                  "arguments": {}}],
      "exchanges": [
        {"name": "a", "vhost": "v", "type": "direct", "durable": true},
        {"name": "b", "vhost": "v", "type": "fanout", "durable": true}
      ],
      "vhosts": [{"name": "v"}]
    }"#;
    let b = broker();
    let report = b.import_definitions(json).unwrap();
    assert_eq!(
        (
            report.vhosts,
            report.exchanges,
            report.queues,
            report.bindings
        ),
        (1, 2, 1, 2)
    );
    let conn = b
        .connect(trackswitch::broker::ConnectOptions {
            vhost: "v".into(),
            ..Default::default()
        })
        .unwrap();
    let ch = conn.open_channel().unwrap();
    let _ = ch
        .publish("a", "k", Message::new("x"), PublishOptions::default())
        .unwrap();
    assert_eq!(
        ch.queue_declare("q", &QueueDeclare::passive())
            .unwrap()
            .message_count,
        1
    );
}

#[test]
fn unknown_sections_and_fields_are_warnings() {
    let json = r#"{
      "rabbit_version": "3.10.8",
      "operator_policies": [],
      "queues": [{"name": "q", "vhost": "/", "durable": true, "exclusive": false}],
      "exchanges": [{"name": "x", "vhost": "/", "type": "topic", "durable": true,
                     "arguments": {"x-delayed-type": "direct"}}]
    }"#;
    let report = broker().import_definitions(json).unwrap();
    assert_eq!(
        report.warnings,
        [
            "operator_policies: unknown section, ignored",
            "exchanges[0].arguments.x-delayed-type: not kept (the broker reads only \
             alternate-exchange), ignored",
            "queues[0].exclusive: unknown field, ignored",
        ]
    );
}

// ----- errors -----

/// An import that must fail before changing anything.
fn refused_cleanly(json: &str) -> DefinitionsError {
    let b = broker();
    let before = b.export_definitions();
    let err = b.import_definitions(json).unwrap_err();
    assert_eq!(b.export_definitions(), before, "nothing changed for {err}");
    assert_eq!(b.vhosts(), ["/"]);
    err
}

#[test]
fn malformed_json_is_an_error() {
    for json in ["", "{", r#"{"queues": [}"#, "{\"a\": 1,}", "nul"] {
        let err = refused_cleanly(json);
        assert!(
            matches!(err, DefinitionsError::Json { .. }),
            "{json:?}: {err:?}"
        );
        assert!(err.to_string().starts_with("invalid JSON: "), "{err}");
        assert_eq!(err.path(), None);
    }
    // Deep nesting is refused by the parser's recursion limit, not a stack overflow.
    let deep = format!(
        r#"{{"queues": [{{"name": "q", "vhost": "/", "durable": true, "arguments": {{"a": {}{}}}}}]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(
        refused_cleanly(&deep),
        DefinitionsError::Json { .. }
    ));
    // In a section the broker ignores, too.
    let deep = format!(r#"{{"users": {}{}}}"#, "[".repeat(200), "]".repeat(200));
    assert!(matches!(
        refused_cleanly(&deep),
        DefinitionsError::Json { .. }
    ));
}

#[test]
fn wrong_types_name_their_place() {
    let cases: &[(&str, &str)] = &[
        ("[]", "definitions: expected a JSON object, found an array"),
        (
            r#"{"queues": {}}"#,
            "queues: expected an array, found an object",
        ),
        (
            r#"{"queues": [1]}"#,
            "queues[0]: expected an object, found a number",
        ),
        (
            r#"{"queues": [{"vhost": "/", "durable": true}]}"#,
            "queues[0].name: missing",
        ),
        (
            r#"{"queues": [{"name": 7, "vhost": "/", "durable": true}]}"#,
            "queues[0].name: expected a string",
        ),
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": "yes"}]}"#,
            "queues[0].durable: expected a boolean",
        ),
        (
            r#"{"queues": [{"name": "ok", "vhost": "/", "durable": true},
                           {"name": "q", "vhost": "/", "durable": true},
                           {"name": "r", "vhost": "/", "durable": true},
                           {"name": "s", "vhost": "/", "durable": true,
                            "arguments": {"x-max-length": "10"}}]}"#,
            "queues[3].arguments.x-max-length: expected an integer",
        ),
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": true,
                            "arguments": {"x-message-ttl": 1.5}}]}"#,
            "queues[0].arguments.x-message-ttl: expected an integer",
        ),
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": true,
                            "arguments": {"x-max-priority": 256}}]}"#,
            "queues[0].arguments.x-max-priority: 256 is out of range 0..=255",
        ),
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": false,
                            "arguments": {"x-queue-type": "quorum"}}]}"#,
            "queues[0].durable: quorum queues are durable",
        ),
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": true, "type": "stream"}]}"#,
            "queues[0].type: streams are not supported by trackswitch (classic and quorum queues are)",
        ),
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": true, "arguments": []}]}"#,
            "queues[0].arguments: expected an object",
        ),
        (
            r#"{"exchanges": [{"name": "x", "vhost": "/", "type": "x-delayed-message",
                               "durable": true}]}"#,
            "exchanges[0].type: unknown exchange type 'x-delayed-message'",
        ),
        (
            r#"{"exchanges": [{"name": "x", "vhost": "/", "type": "topic", "durable": true,
                               "arguments": {"alternate-exchange": 1}}]}"#,
            "exchanges[0].arguments.alternate-exchange: expected a string",
        ),
        (
            r#"{"exchanges": [{"name": "amq.mine", "vhost": "/", "type": "topic",
                               "durable": true}]}"#,
            "exchanges[0].name: exchange names starting with 'amq.' are reserved",
        ),
        (
            r#"{"exchanges": [{"name": "", "vhost": "/", "type": "direct", "durable": true}]}"#,
            "exchanges[0].name: the default exchange cannot be declared",
        ),
        (
            r#"{"bindings": [{"source": "amq.topic", "vhost": "/", "destination": "amq.direct",
                              "destination_type": "topic", "routing_key": ""}]}"#,
            "bindings[0].destination_type: expected 'queue' or 'exchange', found 'topic'",
        ),
        (
            r#"{"bindings": [{"source": "amq.headers", "vhost": "/", "destination": "amq.direct",
                              "destination_type": "exchange", "arguments": {"x-match": "some"}}]}"#,
            "bindings[0].arguments.x-match: expected one of 'all', 'any', 'all-with-x', 'any-with-x'",
        ),
        // A field given twice is ambiguous (which one did the writer mean?).
        (
            r#"{"queues": [{"name": "q", "vhost": "/", "durable": true, "durable": false}]}"#,
            "queues[0]: duplicate field `durable`",
        ),
        (
            r#"{"queues": [], "queues": []}"#,
            "definitions: duplicate field `queues`",
        ),
        // Types are checked in the order of the file, before any reference: the wrong
        // type is reported, not the unknown vhost before it.
        (
            r#"{"queues": [{"name": "q", "vhost": "nowhere", "durable": "yes"}]}"#,
            "queues[0].durable: expected a boolean",
        ),
    ];
    for &(json, message) in cases {
        let err = refused_cleanly(json);
        assert!(
            matches!(err, DefinitionsError::Invalid { .. }),
            "{json}: {err:?}"
        );
        assert_eq!(err.to_string(), message, "{json}");
    }
    let long = format!(
        r#"{{"queues": [{{"name": "{}", "vhost": "/", "durable": true}}]}}"#,
        "q".repeat(256)
    );
    assert_eq!(
        refused_cleanly(&long).to_string(),
        "queues[0].name: longer than 255 bytes"
    );
}

#[test]
fn binding_to_a_missing_exchange_names_the_binding() {
    // The queue, the exchange and the first binding are fine; nothing is declared.
    let json = r#"{
      "vhosts": [{"name": "new"}],
      "exchanges": [{"name": "x", "vhost": "new", "type": "direct", "durable": true}],
      "queues": [{"name": "q", "vhost": "new", "durable": true}],
      "bindings": [
        {"source": "x", "vhost": "new", "destination": "q", "destination_type": "queue",
         "routing_key": "a"},
        {"source": "missing", "vhost": "new", "destination": "q", "destination_type": "queue",
         "routing_key": "k", "arguments": {}}
      ]
    }"#;
    let err = refused_cleanly(json);
    assert_eq!(err.path(), Some("bindings[1].source"));
    assert_eq!(
        err.to_string(),
        "bindings[1].source: binding of queue 'q' to exchange 'missing' with routing key 'k' \
         in vhost 'new': no exchange 'missing' in vhost 'new' (neither in the definitions nor \
         in the broker)"
    );
    // A destination exchange or queue missing too.
    let err = refused_cleanly(
        r##"{"bindings": [{"source": "amq.topic", "vhost": "/", "destination": "nowhere",
                          "destination_type": "exchange", "routing_key": "#"}]}"##,
    );
    assert_eq!(err.path(), Some("bindings[0].destination"));
    assert!(err.to_string().contains("no exchange 'nowhere'"), "{err}");
    let err = refused_cleanly(
        r##"{"bindings": [{"source": "amq.topic", "vhost": "/", "destination": "nowhere",
                          "destination_type": "queue", "routing_key": "#"}]}"##,
    );
    assert!(err.to_string().contains("no queue 'nowhere'"), "{err}");
}

#[test]
fn unknown_vhost_reference_is_an_error() {
    let err = refused_cleanly(
        r#"{"vhosts": [{"name": "a"}],
            "queues": [{"name": "q", "vhost": "a", "durable": true},
                       {"name": "q", "vhost": "b", "durable": true}]}"#,
    );
    assert_eq!(
        err.to_string(),
        "queues[1].vhost: unknown vhost 'b' (neither in vhosts nor in the broker)"
    );
}

#[test]
fn broker_refusal_names_the_object_and_keeps_earlier_ones() {
    let b = broker();
    let conn = b.connect_default();
    let ch = conn.open_channel().unwrap();
    ch.queue_declare("jobs", &QueueDeclare::default()).unwrap(); // not durable
    let json = r#"{"queues": [
        {"name": "first", "vhost": "/", "durable": true},
        {"name": "jobs", "vhost": "/", "durable": true},
        {"name": "last", "vhost": "/", "durable": true}]}"#;
    let err = b.import_definitions(json).unwrap_err();
    let DefinitionsError::Refused {
        path,
        object,
        error,
    } = &err
    else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(path, "queues[1]");
    assert_eq!(object, "queue 'jobs' in vhost '/'");
    assert_eq!(error.reply_code(), 406);
    assert!(
        err.to_string()
            .starts_with("queues[1]: queue 'jobs' in vhost '/': "),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    let names: Vec<String> = b.queues("/").unwrap().into_iter().map(|q| q.name).collect();
    assert!(
        names.contains(&"first".to_string()),
        "earlier objects stay: {names:?}"
    );
    assert!(!names.contains(&"last".to_string()));
}

// ----- users and permissions -----

/// The file's `users` and `permissions` sections come back from the broker's export
/// object for object, in RabbitMQ's field names (users sorted by name here, in
/// creation order there; permissions in the same order, by vhost then user).
#[test]
fn users_and_permissions_round_trip_in_rabbitmqs_form() {
    let rabbit: Value = serde_json::from_str(RABBITMQ_JSON).unwrap();
    let ours: Value = serde_json::from_str(&imported().export_definitions()).unwrap();
    let mut users = rabbit["users"].as_array().unwrap().clone();
    users.sort_by_key(|u| s(&u["name"]));
    assert_eq!(ours["users"], Value::Array(users));
    assert_eq!(ours["permissions"], rabbit["permissions"]);
    // Field order as RabbitMQ writes it.
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&ours["users"][0]),
        [
            "hashing_algorithm",
            "limits",
            "name",
            "password_hash",
            "tags"
        ]
    );
    assert_eq!(
        keys(&ours["permissions"][0]),
        ["configure", "read", "user", "vhost", "write"]
    );
}

#[test]
fn imported_users_and_permissions_are_the_brokers() {
    let b = imported();
    let publisher = b.user("app-publisher").expect("imported");
    assert_eq!(
        publisher,
        UserRecord {
            name: "app-publisher".into(),
            password_hash: "egR91bEH6gQmVPaCpeLdoxbh3ZRMvPFJ2iLpuBH+HCafZFHb".into(),
            hashing_algorithm: UserRecord::SHA256.into(),
            tags: vec!["monitoring".into()],
        }
    );
    assert_eq!(
        b.permissions("app-publisher"),
        [
            (
                "/".to_string(),
                Permissions::new("", "^(orders|billing)$", "")
            ),
            (
                "staging".to_string(),
                Permissions::new("^orders.*", "^orders.*", ".*")
            ),
        ]
    );
    // Imports do not turn checks on; once on, the imported permissions apply.
    assert_eq!(b.access_control(), AccessControl::Unrestricted);
    b.set_access_control(AccessControl::Enforced);
    let conn = b
        .connect(ConnectOptions {
            user: "app-publisher".into(),
            ..ConnectOptions::default()
        })
        .unwrap();
    let ch = conn.open_channel().unwrap();
    ch.publish(
        "orders",
        "order.created",
        Message::new("m"),
        PublishOptions::default(),
    )
    .unwrap();
    let err = ch
        .queue_declare("mine", &QueueDeclare::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ACCESS_REFUSED - access to queue 'mine' in vhost '/' refused for user 'app-publisher'"
    );
    // An import under access control is not checked: guest has nothing on `new`.
    b.import_definitions(
        r#"{"vhosts": [{"name": "new"}],
            "queues": [{"name": "q", "vhost": "new", "durable": true}]}"#,
    )
    .expect("the import's own connection is not checked");
}

#[test]
fn users_in_older_forms_and_their_warnings() {
    let b = broker();
    let report = b
        .import_definitions(
            r#"{"users": [{"name": "ops", "password_hash": "", "tags": "administrator, monitoring",
                           "limits": {"max-connections": 10}, "colour": "red"},
                          {"name": "svc", "password_hash": "x",
                           "hashing_algorithm": "rabbit_password_hashing_sha512"}]}"#,
        )
        .unwrap();
    assert_eq!(report.users, 2);
    assert_eq!(
        report.warnings,
        [
            "users[0].limits: user limits are not supported, ignored",
            "users[0].colour: unknown field, ignored",
        ]
    );
    assert_eq!(b.user("ops").unwrap().tags, ["administrator", "monitoring"]);
    assert_eq!(
        b.user("svc").unwrap().hashing_algorithm,
        "rabbit_password_hashing_sha512"
    );
    // An import replaces a user's hash and tags and keeps its other permissions.
    b.add_vhost("v");
    b.set_permissions("ops", "v", Permissions::all()).unwrap();
    b.import_definitions(
        r#"{"users": [{"name": "ops", "password_hash": "new"}],
            "permissions": [{"user": "ops", "vhost": "/", "configure": "", "write": "", "read": ".*"}]}"#,
    )
    .unwrap();
    let ops = b.user("ops").unwrap();
    assert_eq!((ops.password_hash.as_str(), ops.tags.len()), ("new", 0));
    assert_eq!(b.permissions("ops").len(), 2);
}

#[test]
fn bad_users_and_permissions_name_their_place() {
    let user = r#"{"name": "u", "password_hash": ""}"#;
    let cases: &[(String, &str)] = &[
        (
            r#"{"users": [{"password_hash": ""}]}"#.into(),
            "users[0].name: missing",
        ),
        (
            r#"{"users": [{"name": "u"}]}"#.into(),
            "users[0].password_hash: missing",
        ),
        (
            r#"{"users": [{"name": "u", "password": "secret"}]}"#.into(),
            "users[0].password: plaintext passwords are not imported; give password_hash",
        ),
        (
            r#"{"users": [{"name": "u", "password_hash": "", "hashing_algorithm": "bcrypt"}]}"#
                .into(),
            "users[0].hashing_algorithm: unknown hashing algorithm 'bcrypt' (expected one of \
             rabbit_password_hashing_sha256, rabbit_password_hashing_sha512, \
             rabbit_password_hashing_md5)",
        ),
        (
            r#"{"users": [{"name": "u", "password_hash": "", "tags": [1]}]}"#.into(),
            "users[0].tags[0]: expected a string",
        ),
        (
            r#"{"users": [{"name": "u", "password_hash": "", "tags": {}}]}"#.into(),
            "users[0].tags: expected an array of strings or a comma-separated string",
        ),
        (
            r#"{"users": [{"name": "u", "password_hash": 5}]}"#.into(),
            "users[0].password_hash: expected a string",
        ),
        (
            format!(
                r#"{{"users": [{user}], "permissions": [{{"user": "nobody", "vhost": "/",
                    "configure": "", "write": "", "read": ""}}]}}"#
            ),
            "permissions[0].user: unknown user 'nobody' (neither in users nor in the broker)",
        ),
        (
            format!(
                r#"{{"users": [{user}], "permissions": [{{"user": "u", "vhost": "nope",
                    "configure": "", "write": "", "read": ""}}]}}"#
            ),
            "permissions[0].vhost: unknown vhost 'nope' (neither in vhosts nor in the broker)",
        ),
        (
            format!(
                r#"{{"users": [{user}], "permissions": [{{"user": "u", "vhost": "/",
                    "configure": ".*", "write": "[a", "read": ""}}]}}"#
            ),
            "permissions[0].write: invalid regex '[a': unclosed character class",
        ),
        (
            format!(
                r#"{{"users": [{user}], "permissions": [{{"user": "u", "vhost": "/",
                    "configure": ".*", "write": ".*"}}]}}"#
            ),
            "permissions[0].read: missing",
        ),
        (
            format!(
                r#"{{"users": [{user}], "permissions": [{{"user": "u", "vhost": "/",
                    "configure": null, "write": ".*", "read": ".*"}}]}}"#
            ),
            "permissions[0].configure: expected a string",
        ),
    ];
    for (json, message) in cases {
        let b = broker();
        let err = b.import_definitions(json).unwrap_err();
        assert!(
            matches!(err, DefinitionsError::Invalid { .. }),
            "{json}: {err:?}"
        );
        assert_eq!(err.to_string(), *message, "{json}");
        assert!(b.users().is_empty(), "nothing changed: {json}");
    }
    // Users and vhosts already in the broker may be referred to.
    let b = broker();
    b.add_user(UserRecord::new("u", ""));
    b.add_vhost("v");
    let report = b
        .import_definitions(
            r#"{"permissions": [{"user": "u", "vhost": "v", "configure": "", "write": "", "read": ""}]}"#,
        )
        .unwrap();
    assert_eq!(report.permissions, 1);
}
