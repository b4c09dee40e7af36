//! Per-user vhost permissions through the broker's public API: `Broker::set_permissions`
//! and friends, `AccessControl::Enforced`.
//!
//! Source of the expected codes and texts: RabbitMQ 3.10.8 (Debian
//! 3.10.8-1.1+deb12u1), `docs/probes/probe_permissions.py` run against it with the
//! same users and regexes as below (the probe's names carry a random suffix); the
//! transcript's findings are in `docs/rabbitmq-3.10.8-wire-facts.md`, "Permissions".
//! Case `perm_NNN` of the table is the probe's line for that user and method.
#![cfg(feature = "broker")]

use trackswitch::broker::{
    AccessControl, Broker, BrokerError, Channel, ConnectOptions, Connection, ConsumeOptions,
    ExchangeDeclare, Message, Permissions, PermissionsError, PublishOptions, QueueDeclare, Scope,
    UserRecord,
};
use trackswitch::{FieldTable, FieldValue};

/// The probe's users, their regexes on `/` (configure, write, read).
const USERS: &[(&str, [&str; 3])] = &[
    ("empty", ["", "", ""]),
    ("noconf", ["^$", ".*", ".*"]),
    ("nowrite", [".*", "^$", ".*"]),
    ("noread", [".*", ".*", "^$"]),
    ("app", ["^app", "^app", "^app"]),
    ("bind", [".*", "^q-", "^x-"]),
    ("defx", [".*", r"^amq\.default$", ".*"]),
    ("conf", [".*", "^$", "^$"]),
];

/// A broker with access control on; guest (all on `/`) made `q-1` (3 messages),
/// `x-1` (direct; `q-1` bound with `k`), `x2-1` (fanout) and `app-q-1`.
fn broker() -> Broker {
    let b = Broker::new();
    b.set_access_control(AccessControl::Enforced);
    for (name, [c, w, r]) in std::iter::once(&("guest", [".*", ".*", ".*"])).chain(USERS) {
        b.add_user(UserRecord::new(*name, ""));
        b.set_permissions(name, "/", Permissions::new(*c, *w, *r))
            .unwrap();
    }
    let conn = b.connect_default();
    let ch = conn.open_channel().unwrap();
    ch.queue_declare("q-1", &QueueDeclare::default()).unwrap();
    ch.exchange_declare("x-1", "direct", &ExchangeDeclare::default())
        .unwrap();
    ch.exchange_declare("x2-1", "fanout", &ExchangeDeclare::default())
        .unwrap();
    ch.queue_declare("app-q-1", &QueueDeclare::default())
        .unwrap();
    ch.queue_bind("q-1", "x-1", "k", &FieldTable::new())
        .unwrap();
    for m in ["1", "2", "3"] {
        ch.publish("", "q-1", Message::new(m), PublishOptions::default())
            .unwrap();
    }
    b
}

fn connect(b: &Broker, user: &str, vhost: &str) -> Result<Connection, BrokerError> {
    b.connect(ConnectOptions {
        user: user.into(),
        vhost: vhost.into(),
        ..ConnectOptions::default()
    })
}

fn args(entries: &[(&str, FieldValue)]) -> FieldTable {
    entries.iter().cloned().collect()
}

/// One method of the table.
#[derive(Debug, Clone)]
enum Op {
    DeclareX(&'static str, &'static str),
    DeclareXArgs(&'static str, FieldTable),
    DeclareXPassive(&'static str),
    DeleteX(&'static str),
    DeclareQ(&'static str),
    DeclareQWith(&'static str, QueueDeclare),
    DeclareQPassive(&'static str),
    PurgeQ(&'static str),
    DeleteQ(&'static str),
    BindQ(&'static str, &'static str),
    UnbindQ(&'static str, &'static str),
    BindX(&'static str, &'static str),
    UnbindX(&'static str, &'static str),
    Publish(&'static str, &'static str),
    PublishConfirm(&'static str),
    PublishTx(&'static str),
    Consume(&'static str),
    ConsumeNoAck(&'static str),
    Get(&'static str),
    /// Declare a server-named exclusive queue, then get `""` (the last declared).
    GetLastServerNamed,
}

fn run(ch: &Channel, op: &Op) -> Result<(), BrokerError> {
    let none = FieldTable::new();
    match op {
        Op::DeclareX(x, kind) => ch.exchange_declare(x, kind, &ExchangeDeclare::default()),
        Op::DeclareXArgs(x, arguments) => ch.exchange_declare(
            x,
            "direct",
            &ExchangeDeclare {
                arguments: arguments.clone(),
                ..ExchangeDeclare::default()
            },
        ),
        Op::DeclareXPassive(x) => ch.exchange_declare(x, "", &ExchangeDeclare::passive()),
        Op::DeleteX(x) => ch.exchange_delete(x, false),
        Op::DeclareQ(q) => ch.queue_declare(q, &QueueDeclare::default()).map(drop),
        Op::DeclareQWith(q, o) => ch.queue_declare(q, o).map(drop),
        Op::DeclareQPassive(q) => ch.queue_declare(q, &QueueDeclare::passive()).map(drop),
        Op::PurgeQ(q) => ch.queue_purge(q).map(drop),
        Op::DeleteQ(q) => ch.queue_delete(q, false, false).map(drop),
        Op::BindQ(q, x) => ch.queue_bind(q, x, "k", &none),
        Op::UnbindQ(q, x) => ch.queue_unbind(q, x, "nokey", &none).map(drop),
        Op::BindX(to, from) => ch.exchange_bind(to, from, "k", &none),
        Op::UnbindX(to, from) => ch.exchange_unbind(to, from, "k", &none).map(drop),
        Op::Publish(x, key) => ch
            .publish(x, key, Message::new("m"), PublishOptions::default())
            .map(drop),
        Op::PublishConfirm(x) => {
            ch.confirm_select()?;
            ch.publish(x, "k", Message::new("m"), PublishOptions::default())
                .map(drop)
        }
        Op::PublishTx(x) => {
            ch.tx_select()?;
            ch.publish(x, "k", Message::new("m"), PublishOptions::default())
                .map(drop)
        }
        Op::Consume(q) => ch.consume(q, &ConsumeOptions::default()).map(drop),
        Op::ConsumeNoAck(q) => ch.consume(q, &ConsumeOptions::no_ack()).map(drop),
        Op::Get(q) => ch.get(q, true).map(drop),
        Op::GetLastServerNamed => {
            ch.queue_declare("", &QueueDeclare::exclusive())?;
            ch.get("", true).map(drop)
        }
    }
}

/// What a case expects: success, or a channel error with this code and text
/// (after the code's name; `amq.gen-*` stands for a generated name).
#[derive(Debug, Clone, Copy)]
enum Want {
    Ok,
    Refused(u16, &'static str),
}
use Want::{Ok as Allowed, Refused};

fn refused_queue(user: &str, queue: &str) -> String {
    format!("access to queue '{queue}' in vhost '/' refused for user '{user}'")
}

const DEFAULT_X: &str = "operation not permitted on the default exchange";

/// Matches a reply text against an expected one, `amq.gen-*` standing for a
/// server-generated name.
fn text_matches(got: &str, want: &str) -> bool {
    match want.split_once("amq.gen-*") {
        None => got == want,
        Some((before, after)) => got
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .and_then(|name| name.strip_prefix("amq.gen-"))
            .is_some_and(|suffix| suffix.len() == 22),
    }
}

#[rustfmt::skip]
fn cases() -> Vec<(&'static str, &'static str, Op, Want)> {
    use Op::*;
    let ae = |to: &str| args(&[("alternate-exchange", FieldValue::from(to))]);
    let dlx = |to: &str| QueueDeclare {
        arguments: args(&[("x-dead-letter-exchange", FieldValue::from(to))]),
        ..QueueDeclare::default()
    };
    vec![
        // exchange.declare: configure, before the lookup; passive checks nothing.
        ("perm_010", "noconf", DeclareX("x-new", "direct"), Refused(403, "access to exchange 'x-new' in vhost '/' refused for user 'noconf'")),
        ("perm_011", "nowrite", DeclareX("x-new", "direct"), Allowed),
        ("perm_012", "noread", DeclareX("x-new", "direct"), Allowed),
        ("perm_013", "empty", DeclareX("x-new", "direct"), Refused(403, "access to exchange 'x-new' in vhost '/' refused for user 'empty'")),
        ("perm_014", "noconf", DeclareX("x-1", "direct"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'noconf'")),
        ("perm_015", "empty", DeclareXPassive("x-1"), Allowed),
        ("perm_016", "noconf", DeclareXPassive("x-1"), Allowed),
        // Configure comes before the reserved prefix; the default exchange before configure.
        ("perm_017", "noconf", DeclareX("amq.new", "direct"), Refused(403, "access to exchange 'amq.new' in vhost '/' refused for user 'noconf'")),
        ("perm_018", "noconf", DeclareX("", "direct"), Refused(403, DEFAULT_X)),
        // A new exchange with an alternate: read on it, then write on the alternate.
        ("perm_020", "nowrite", DeclareXArgs("ae", ae("x2-1")), Refused(403, "access to exchange 'x2-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_021", "noread", DeclareXArgs("ae", ae("x2-1")), Refused(403, "access to exchange 'ae' in vhost '/' refused for user 'noread'")),
        ("perm_022", "conf", DeclareXArgs("ae", ae("x2-1")), Refused(403, "access to exchange 'ae' in vhost '/' refused for user 'conf'")),
        ("perm_023", "noconf", DeclareXArgs("ae2", args(&[("alternate-exchange", FieldValue::LongLongInt(42))])), Refused(403, "access to exchange 'ae2' in vhost '/' refused for user 'noconf'")),
        // exchange.delete: configure, a missing one too; `amq.*` and "" refused first.
        ("perm_030", "noconf", DeleteX("x-missing"), Refused(403, "access to exchange 'x-missing' in vhost '/' refused for user 'noconf'")),
        ("perm_031", "nowrite", DeleteX("x-missing"), Allowed),
        ("perm_032", "noconf", DeleteX("amq.direct"), Refused(403, "deletion of system exchange 'amq.direct' in vhost '/' not allowed")),
        ("perm_033", "noconf", DeleteX("amq.nothere"), Refused(403, "deletion of system exchange 'amq.nothere' in vhost '/' not allowed")),
        ("perm_034", "noconf", DeleteX(""), Refused(403, DEFAULT_X)),
        // queue.declare: configure on the name, generated ones too.
        ("perm_040", "noconf", DeclareQ("q-new"), Refused(403, "access to queue 'q-new' in vhost '/' refused for user 'noconf'")),
        ("perm_041", "nowrite", DeclareQ("q-new"), Allowed),
        ("perm_042", "noread", DeclareQ("q-new"), Allowed),
        ("perm_043", "noconf", DeclareQ("q-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'noconf'")),
        ("perm_044", "empty", DeclareQPassive("q-1"), Allowed),
        ("perm_045", "empty", DeclareQPassive("q-missing"), Refused(404, "no queue 'q-missing' in vhost '/'")),
        ("perm_046", "noconf", DeclareQ(""), Refused(403, "access to queue 'amq.gen-*' in vhost '/' refused for user 'noconf'")),
        ("perm_047", "app", DeclareQ(""), Refused(403, "access to queue 'amq.gen-*' in vhost '/' refused for user 'app'")),
        ("perm_048", "noconf", DeclareQWith("", QueueDeclare::exclusive()), Refused(403, "access to queue 'amq.gen-*' in vhost '/' refused for user 'noconf'")),
        ("perm_049", "app", DeclareQWith("app-ex", QueueDeclare::exclusive()), Allowed),
        // The reserved prefix comes before configure.
        ("perm_050", "noconf", DeclareQ("amq.q"), Refused(403, "queue name 'amq.q' contains reserved prefix 'amq.*'")),
        // A new queue with a dead-letter exchange: read on it, then write on the exchange.
        ("perm_051", "nowrite", DeclareQWith("dlx", dlx("x-1")), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_052", "noread", DeclareQWith("dlx", dlx("x-1")), Refused(403, "access to queue 'dlx' in vhost '/' refused for user 'noread'")),
        ("perm_053", "conf", DeclareQWith("dlx", dlx("x-1")), Refused(403, "access to queue 'dlx' in vhost '/' refused for user 'conf'")),
        ("perm_054", "nowrite", DeclareQWith("dlx0", dlx("")), Refused(403, "access to exchange 'amq.default' in vhost '/' refused for user 'nowrite'")),
        ("perm_055", "defx", DeclareQWith("dlx0", dlx("")), Allowed),
        ("perm_056", "nowrite", DeclareQWith("dlx3", QueueDeclare {
            arguments: args(&[("x-dead-letter-exchange", FieldValue::from("x-1")), ("x-max-length", FieldValue::from("ten"))]),
            ..QueueDeclare::default()
        }), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'nowrite'")),
        // An existing queue: no dead-letter check (RabbitMQ: 406 inequivalent).
        ("perm_057", "nowrite", DeclareQWith("q-1", dlx("x-1")), Refused(406, "inequivalent arg 'x-dead-letter-exchange' for queue 'q-1' in vhost '/': received the value 'x-1' of type 'longstr' but current is none")),
        // queue.purge: read; queue.delete: configure; both before the lookup.
        ("perm_060", "noread", PurgeQ("q-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'noread'")),
        ("perm_061", "noconf", PurgeQ("q-1"), Allowed),
        ("perm_062", "nowrite", PurgeQ("q-1"), Allowed),
        ("perm_063", "noread", PurgeQ("q-missing"), Refused(403, "access to queue 'q-missing' in vhost '/' refused for user 'noread'")),
        ("perm_064", "noconf", DeleteQ("q-missing"), Refused(403, "access to queue 'q-missing' in vhost '/' refused for user 'noconf'")),
        ("perm_065", "nowrite", DeleteQ("q-missing"), Allowed),
        ("perm_066", "noread", DeleteQ("q-missing"), Allowed),
        // Bindings: write on the destination, then read on the source.
        ("perm_070", "noconf", BindQ("q-1", "x-1"), Allowed),
        ("perm_071", "nowrite", BindQ("q-1", "x-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_072", "noread", BindQ("q-1", "x-1"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'noread'")),
        ("perm_073", "empty", BindQ("q-1", "x-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'empty'")),
        ("perm_074", "nowrite", UnbindQ("q-1", "x-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_075", "noread", UnbindQ("q-1", "x-1"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'noread'")),
        ("perm_076", "noconf", UnbindQ("q-missing", "x-missing"), Allowed),
        ("perm_077", "nowrite", UnbindQ("q-missing", "x-missing"), Refused(403, "access to queue 'q-missing' in vhost '/' refused for user 'nowrite'")),
        ("perm_078", "noread", UnbindQ("q-missing", "x-missing"), Refused(403, "access to exchange 'x-missing' in vhost '/' refused for user 'noread'")),
        ("perm_079", "noconf", BindX("x2-1", "x-1"), Allowed),
        ("perm_080", "nowrite", BindX("x2-1", "x-1"), Refused(403, "access to exchange 'x2-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_081", "noread", BindX("x2-1", "x-1"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'noread'")),
        ("perm_082", "empty", BindX("x2-1", "x-1"), Refused(403, "access to exchange 'x2-1' in vhost '/' refused for user 'empty'")),
        ("perm_083", "nowrite", UnbindX("x2-1", "x-1"), Refused(403, "access to exchange 'x2-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_084", "noread", UnbindX("x2-1", "x-1"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'noread'")),
        // The default exchange as an end: write on the destination first, then its refusal.
        ("perm_085", "nowrite", BindQ("q-1", ""), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_086", "noread", BindQ("q-1", ""), Refused(403, DEFAULT_X)),
        ("perm_087", "nowrite", BindX("", "x-1"), Refused(403, "access to exchange 'amq.default' in vhost '/' refused for user 'nowrite'")),
        ("perm_088", "noread", BindX("", "x-1"), Refused(403, DEFAULT_X)),
        ("perm_089", "nowrite", BindX("x2-1", ""), Refused(403, "access to exchange 'x2-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_090", "noread", BindX("x2-1", ""), Refused(403, DEFAULT_X)),
        ("perm_091", "bind", BindQ("q-1", "x-1"), Allowed),
        ("perm_092", "bind", BindQ("app-q-1", "x-1"), Refused(403, "access to queue 'app-q-1' in vhost '/' refused for user 'bind'")),
        ("perm_093", "bind", BindQ("q-1", "x2-1"), Refused(403, "access to exchange 'x2-1' in vhost '/' refused for user 'bind'")),
        ("perm_094", "nowrite", BindQ("q-missing", "x-missing"), Refused(403, "access to queue 'q-missing' in vhost '/' refused for user 'nowrite'")),
        ("perm_095", "noread", BindQ("q-missing", "x-missing"), Refused(403, "access to exchange 'x-missing' in vhost '/' refused for user 'noread'")),
        ("perm_096", "nowrite", BindQ("", "x-1"), Refused(404, "no previously declared queue")),
        // basic.publish: write on the exchange (the default one is `amq.default`), before the lookup.
        ("perm_100", "nowrite", Publish("x-1", "k"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_101", "noconf", Publish("x-1", "k"), Allowed),
        ("perm_102", "noread", Publish("x-1", "k"), Allowed),
        ("perm_103", "nowrite", Publish("", "q-1"), Refused(403, "access to exchange 'amq.default' in vhost '/' refused for user 'nowrite'")),
        ("perm_104", "empty", Publish("", "q-1"), Refused(403, "access to exchange 'amq.default' in vhost '/' refused for user 'empty'")),
        ("perm_105", "defx", Publish("", "q-1"), Allowed),
        ("perm_106", "app", Publish("", "q-1"), Refused(403, "access to exchange 'amq.default' in vhost '/' refused for user 'app'")),
        ("perm_107", "nowrite", Publish("x-missing", "k"), Refused(403, "access to exchange 'x-missing' in vhost '/' refused for user 'nowrite'")),
        ("perm_108", "nowrite", PublishConfirm("x-1"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_109", "nowrite", PublishTx("x-1"), Refused(403, "access to exchange 'x-1' in vhost '/' refused for user 'nowrite'")),
        ("perm_110", "nowrite", Publish("", "amq.rabbitmq.reply-to.x"), Refused(403, "access to exchange 'amq.default' in vhost '/' refused for user 'nowrite'")),
        // basic.consume, basic.get: read, before the lookup.
        ("perm_120", "noread", Consume("q-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'noread'")),
        ("perm_121", "noconf", Consume("q-1"), Allowed),
        ("perm_122", "nowrite", Consume("q-1"), Allowed),
        ("perm_123", "noread", Get("q-1"), Refused(403, "access to queue 'q-1' in vhost '/' refused for user 'noread'")),
        ("perm_124", "noconf", Get("q-1"), Allowed),
        ("perm_125", "nowrite", Get("q-1"), Allowed),
        ("perm_126", "noread", Consume("q-missing"), Refused(403, "access to queue 'q-missing' in vhost '/' refused for user 'noread'")),
        ("perm_127", "noread", Get("q-missing"), Refused(403, "access to queue 'q-missing' in vhost '/' refused for user 'noread'")),
        // Direct reply-to checks nothing.
        ("perm_128", "noread", ConsumeNoAck("amq.rabbitmq.reply-to"), Allowed),
        ("perm_129", "empty", ConsumeNoAck("amq.rabbitmq.reply-to"), Allowed),
        ("perm_130", "empty", DeclareQPassive("amq.rabbitmq.reply-to"), Allowed),
        ("perm_131", "noread", GetLastServerNamed, Refused(403, "access to queue 'amq.gen-*' in vhost '/' refused for user 'noread'")),
        // Unanchored: `q-` is found inside `app-q-1`.
        ("perm_140", "unanchored", Get("app-q-1"), Allowed),
        ("perm_141", "unanchored", Get("x"), Refused(403, "access to queue 'x' in vhost '/' refused for user 'unanchored'")),
    ]
}

#[test]
fn each_method_checks_rabbitmqs_permission() {
    let b = broker();
    b.add_user(UserRecord::new("unanchored", ""));
    b.set_permissions("unanchored", "/", Permissions::new("^$", "^$", "q-"))
        .unwrap();
    let mut failures = Vec::new();
    for (id, user, op, want) in cases() {
        // A fresh broker state would be cleaner, but every case only declares new
        // names, deletes missing ones or touches the fixture in ways later cases
        // do not depend on; the connection is fresh.
        let conn = connect(&b, user, "/").unwrap_or_else(|e| panic!("{id}: {e}"));
        let ch = conn.open_channel().unwrap();
        let got = run(&ch, &op);
        let ok = match (&got, want) {
            (Ok(()), Allowed) => true,
            (Err(e), Refused(code, text)) => {
                e.reply_code() == code
                    && e.scope() == Scope::Channel
                    && text_matches(&e.reply_text(), &format!("{} - {text}", name(code)))
            }
            _ => false,
        };
        if !ok {
            failures.push(format!("{id} {user} {op:?}: got {got:?}, want {want:?}"));
        }
        if let Refused(..) = want {
            // A channel error closed the channel, not the connection.
            assert!(conn.is_open(), "{id}");
            assert!(!ch.is_open(), "{id}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn name(code: u16) -> &'static str {
    match code {
        403 => "ACCESS_REFUSED",
        404 => "NOT_FOUND",
        406 => "PRECONDITION_FAILED",
        _ => unreachable!("{code}"),
    }
}

/// Another connection's exclusive queue: the permission is checked before the lock.
#[test]
fn permissions_come_before_exclusivity() {
    let b = broker();
    let owner = b.connect_default();
    let ch = owner.open_channel().unwrap();
    ch.queue_declare("q-ex", &QueueDeclare::exclusive())
        .unwrap();
    let locked = "RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'q-ex' in \
                  vhost '/'. It could be originally declared on another connection or the \
                  exclusive property value does not match that of the original declaration.";
    for (user, op, text) in [
        (
            "noread",
            Op::Consume("q-ex"),
            format!("ACCESS_REFUSED - {}", refused_queue("noread", "q-ex")),
        ),
        ("nowrite", Op::Consume("q-ex"), locked.to_owned()),
        (
            "noconf",
            Op::DeclareQ("q-ex"),
            format!("ACCESS_REFUSED - {}", refused_queue("noconf", "q-ex")),
        ),
        ("nowrite", Op::DeclareQ("q-ex"), locked.to_owned()),
    ] {
        let conn = connect(&b, user, "/").unwrap();
        let err = run(&conn.open_channel().unwrap(), &op).unwrap_err();
        assert_eq!(err.reply_text(), text, "{user} {op:?}");
    }
}

// ----- connection.open -----

#[test]
fn vhost_access_is_refused_without_permissions() {
    let b = broker();
    b.add_vhost("pt_vh");
    b.add_user(UserRecord::new("none", ""));
    for (user, vhost, text) in [
        ("none", "/", "access to vhost '/' refused for user 'none'"),
        (
            "none",
            "pt_vh",
            "access to vhost 'pt_vh' refused for user 'none'",
        ),
        (
            "empty",
            "pt_vh",
            "access to vhost 'pt_vh' refused for user 'empty'",
        ),
        // Not in the store at all: the same.
        ("ghost", "/", "access to vhost '/' refused for user 'ghost'"),
        // A missing vhost is reported first, whoever asks.
        ("empty", "missing", "vhost missing not found"),
        ("none", "missing", "vhost missing not found"),
    ] {
        let err = connect(&b, user, vhost).unwrap_err();
        assert_eq!(
            (err.reply_code(), err.scope()),
            (530, Scope::Connection),
            "{user} {vhost}"
        );
        assert_eq!(err.reply_text(), format!("NOT_ALLOWED - {text}"));
    }
    // Permissions that deny everything still open the vhost (RabbitMQ).
    assert!(connect(&b, "empty", "/").is_ok());
}

#[test]
fn unrestricted_brokers_check_nothing() {
    let b = Broker::new();
    assert_eq!(b.access_control(), AccessControl::Unrestricted);
    b.add_vhost("other");
    b.add_user(UserRecord::new("app", ""));
    b.set_permissions("app", "/", Permissions::new("^$", "^$", "^$"))
        .unwrap();
    // Even a user whose permissions deny everything, and one nobody defined.
    for user in ["app", "ghost"] {
        for vhost in ["/", "other"] {
            let conn = connect(&b, user, vhost).unwrap();
            let ch = conn.open_channel().unwrap();
            ch.queue_declare("q", &QueueDeclare::default()).unwrap();
            ch.publish("", "q", Message::new("m"), PublishOptions::default())
                .unwrap();
            assert!(ch.get("q", true).unwrap().is_some());
            ch.queue_delete("q", false, false).unwrap();
        }
    }
}

/// A user with all permissions does everything it did before access control.
#[test]
fn a_permitted_user_is_unaffected() {
    let b = broker();
    b.add_user(UserRecord::new("app", ""));
    b.set_permissions("app", "/", Permissions::all()).unwrap();
    let conn = connect(&b, "app", "/").unwrap();
    let ch = conn.open_channel().unwrap();
    ch.exchange_declare("logs", "topic", &ExchangeDeclare::default())
        .unwrap();
    let q = ch
        .queue_declare("", &QueueDeclare::exclusive())
        .unwrap()
        .queue;
    ch.queue_bind(&q, "logs", "#", &FieldTable::new()).unwrap();
    ch.exchange_bind("logs", "x-1", "k", &FieldTable::new())
        .unwrap();
    ch.confirm_select().unwrap();
    for key in ["a", "b"] {
        let p = ch
            .publish("logs", key, Message::new(key), PublishOptions::default())
            .unwrap();
        assert!(p.ack);
    }
    ch.publish(
        "x-1",
        "k",
        Message::new("via x-1"),
        PublishOptions::default(),
    )
    .unwrap();
    let c = ch.consume(&q, &ConsumeOptions::no_ack()).unwrap();
    let got: Vec<Vec<u8>> = (0..3).map(|_| c.recv().unwrap().body().to_vec()).collect();
    assert_eq!(got, [b"a".to_vec(), b"b".to_vec(), b"via x-1".to_vec()]);
    assert_eq!(ch.queue_purge("q-1").unwrap(), 4, "3 from guest, 1 via x-1");
    ch.exchange_unbind("logs", "x-1", "k", &FieldTable::new())
        .unwrap();
    ch.exchange_delete("logs", false).unwrap();
    ch.queue_delete("app-q-1", false, false).unwrap();
}

// ----- changes -----

/// A change applies to open channels at once, the publish cache included.
/// Deliberately stricter than RabbitMQ 3.10.8, whose channels keep the checks they
/// passed for a few seconds (the probe: the same channel still allowed right after
/// the change, refused 6 s later; a new channel refused at once).
#[test]
fn changes_apply_to_open_channels() {
    let b = broker();
    let conn = connect(&b, "app", "/").unwrap();
    let ch = conn.open_channel().unwrap();
    let publish = |ch: &Channel| {
        ch.publish(
            "amq.direct",
            "k",
            Message::new("m"),
            PublishOptions::default(),
        )
    };
    assert_eq!(publish(&ch).unwrap_err().reply_code(), 403);
    b.set_permissions("app", "/", Permissions::new("^app", ".*", "^app"))
        .unwrap();
    let ch = conn.open_channel().unwrap();
    for _ in 0..3 {
        publish(&ch).unwrap(); // cached after the first
    }
    assert!(ch.get("app-q-1", true).unwrap().is_none());
    b.set_permissions("app", "/", Permissions::new("^app", "^$", "^$"))
        .unwrap();
    let err = publish(&ch).unwrap_err();
    assert_eq!(
        err.reply_text(),
        "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'app'"
    );
    let ch = conn.open_channel().unwrap();
    assert_eq!(ch.get("app-q-1", true).unwrap_err().reply_code(), 403);

    // Cleared: the connection stays open, every check fails.
    b.set_permissions("app", "/", Permissions::all()).unwrap();
    let ch = conn.open_channel().unwrap();
    publish(&ch).unwrap();
    assert!(b.clear_permissions("app", "/"));
    assert!(!b.clear_permissions("app", "/"));
    assert_eq!(publish(&ch).unwrap_err().reply_code(), 403);
    assert!(conn.is_open());
    let ch = conn.open_channel().unwrap();
    let err = ch
        .queue_declare("app-z", &QueueDeclare::default())
        .unwrap_err();
    assert_eq!(
        err.reply_text(),
        format!("ACCESS_REFUSED - {}", refused_queue("app", "app-z"))
    );
    assert_eq!(connect(&b, "app", "/").unwrap_err().reply_code(), 530);

    // Turning access control off lifts every check; on again, they are back.
    b.set_access_control(AccessControl::Unrestricted);
    publish(&conn.open_channel().unwrap()).unwrap();
    b.set_access_control(AccessControl::Enforced);
    assert_eq!(
        publish(&conn.open_channel().unwrap())
            .unwrap_err()
            .reply_code(),
        403
    );
}

/// A grant cached on one thread is not used after a change made on another.
#[test]
fn the_publish_cache_follows_changes_across_threads() {
    let b = broker();
    b.set_permissions("app", "/", Permissions::new("", "^amq", ""))
        .unwrap();
    let conn = std::sync::Arc::new(connect(&b, "app", "/").unwrap());
    let ch = std::sync::Arc::new(conn.open_channel().unwrap());
    let publishes = |n: usize| {
        let ch = std::sync::Arc::clone(&ch);
        std::thread::spawn(move || {
            for _ in 0..n {
                ch.publish(
                    "amq.fanout",
                    "",
                    Message::new("m"),
                    PublishOptions::default(),
                )?;
            }
            Ok::<_, BrokerError>(())
        })
    };
    publishes(100).join().unwrap().unwrap();
    b.set_permissions("app", "/", Permissions::new("", "^x", ""))
        .unwrap();
    let err = publishes(1).join().unwrap().unwrap_err();
    assert_eq!(err.reply_code(), 403);
    // Another connection of the same user on the same thread is checked anew too.
    b.set_permissions("app", "/", Permissions::new("", "^amq", ""))
        .unwrap();
    let other_conn = connect(&b, "app", "/").unwrap();
    let other = other_conn.open_channel().unwrap();
    other
        .publish(
            "amq.fanout",
            "",
            Message::new("m"),
            PublishOptions::default(),
        )
        .unwrap();
    b.set_permissions("app", "/", Permissions::new("", "^x", ""))
        .unwrap();
    assert_eq!(
        other
            .publish(
                "amq.fanout",
                "",
                Message::new("m"),
                PublishOptions::default()
            )
            .unwrap_err()
            .reply_code(),
        403
    );
}

// ----- the store -----

#[test]
fn set_permissions_refuses_what_rabbitmqctl_refuses() {
    let b = Broker::new();
    assert_eq!(
        b.set_permissions("nobody", "/", Permissions::all()),
        Err(PermissionsError::UnknownUser("nobody".into()))
    );
    b.add_user(UserRecord::new("app", ""));
    assert_eq!(
        b.set_permissions("app", "novhost", Permissions::all()),
        Err(PermissionsError::UnknownVhost("novhost".into()))
    );
    for (p, text) in [
        (
            Permissions::new("(", ".*", ".*"),
            "invalid configure regex '(': unclosed group",
        ),
        (
            Permissions::new(".*", "[a", ".*"),
            "invalid write regex '[a': unclosed character class",
        ),
        (
            Permissions::new(".*", ".*", "(?<=a)b"),
            "invalid read regex '(?<=a)b': look-around, including look-ahead and look-behind, is not supported",
        ),
    ] {
        let err = b.set_permissions("app", "/", p).unwrap_err();
        assert_eq!(err.to_string(), text);
        assert!(matches!(err, PermissionsError::InvalidRegex { .. }));
    }
    assert!(b.permissions("app").is_empty(), "nothing was set");
}

#[test]
fn users_and_their_permissions_come_and_go_together() {
    let b = Broker::new();
    b.add_vhost("staging");
    let mut app = UserRecord::new("app", "hash1");
    assert!(b.add_user(app.clone()));
    assert!(b.add_user(UserRecord::new("a-first", "")));
    b.set_permissions("app", "/", Permissions::all()).unwrap();
    b.set_permissions("app", "staging", Permissions::new("", "", ".*"))
        .unwrap();
    // Replacing a user keeps its permissions.
    app.password_hash = "hash2".into();
    app.tags = vec!["administrator".into()];
    assert!(!b.add_user(app.clone()));
    assert_eq!(b.user("app"), Some(app));
    assert_eq!(b.permissions("app").len(), 2);
    let names: Vec<String> = b.users().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["a-first", "app"]);
    // A deleted vhost takes its permissions along.
    assert!(b.delete_vhost("staging"));
    assert_eq!(
        b.permissions("app"),
        [("/".to_string(), Permissions::all())]
    );
    // So does a deleted user; a new one of the same name starts with none.
    assert!(b.delete_user("app"));
    assert!(!b.delete_user("app"));
    assert_eq!(b.user("app"), None);
    b.add_user(UserRecord::new("app", ""));
    assert!(b.permissions("app").is_empty());
}

#[test]
fn user_records_do_not_show_their_hash() {
    let u = UserRecord::new("app", "c2VjcmV0LWhhc2g=");
    let shown = format!("{u:?}");
    assert!(
        shown.contains("app") && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Permissions>();
    send_sync::<UserRecord>();
    send_sync::<AccessControl>();
    send_sync::<PermissionsError>();
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    error::<PermissionsError>();
}
