//! The codec against `amq-protocol`'s own encoder and decoder.

use amq_protocol::frame::{AMQPFrame, parse_frame};
use amq_protocol::protocol::{AMQPClass, basic, connection, queue, tx};
use amq_protocol::types::{AMQPValue, FieldTable as WireTable};

use super::*;
use crate::amqp::method::Publish;
use crate::{FieldTable, FieldValue};

fn gen_client(class: AMQPClass) -> Vec<u8> {
    let mut out = Vec::new();
    gen_into(&mut out, &AMQPFrame::Method(1, class)).expect("encodes");
    // Strip the 7-byte frame header and the frame-end octet: the payload.
    out[7..out.len() - 1].to_vec()
}

fn all_values() -> FieldTable {
    let mut inner = FieldTable::new();
    inner.insert(
        "deep",
        FieldValue::Array(vec![FieldValue::LongInt(-1), FieldValue::Void]),
    );
    let mut t = FieldTable::new();
    for (k, v) in [
        ("bool", FieldValue::Boolean(true)),
        ("i8", FieldValue::ShortShortInt(-8)),
        ("u8", FieldValue::ShortShortUInt(8)),
        ("i16", FieldValue::ShortInt(-16)),
        ("u16", FieldValue::ShortUInt(16)),
        ("i32", FieldValue::LongInt(-32)),
        ("u32", FieldValue::LongUInt(32)),
        ("i64", FieldValue::LongLongInt(-64)),
        ("f32", FieldValue::Float(1.5)),
        ("f64", FieldValue::Double(2.5)),
        (
            "dec",
            FieldValue::Decimal {
                scale: 2,
                value: 314,
            },
        ),
        ("long", FieldValue::LongString(b"\xff\x00bytes".to_vec())),
        ("bytes", FieldValue::ByteArray(vec![1, 2, 3])),
        ("ts", FieldValue::Timestamp(1_700_000_000)),
        ("table", FieldValue::Table(inner.clone())),
        ("void", FieldValue::Void),
    ] {
        t.insert(k, v);
    }
    t
}

fn sorted(t: &FieldTable) -> Vec<(String, FieldValue)> {
    let mut v: Vec<_> = t.iter().map(|(k, v)| (k.to_owned(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn field_tables_round_trip() {
    let t = all_values();
    let back = table_from_wire(&table_to_wire(&t));
    assert_eq!(sorted(&back), sorted(&t));
    // Values the codec cannot express map to their nearest wire type.
    let mut odd = FieldTable::new();
    odd.insert("u64", FieldValue::LongLongUInt(u64::MAX));
    odd.insert("short", FieldValue::ShortString("x".repeat(300)));
    odd.insert("k".repeat(300), 1);
    let back = table_from_wire(&table_to_wire(&odd));
    assert_eq!(back.get("u64"), Some(&FieldValue::LongLongInt(i64::MAX)));
    assert_eq!(
        back.get("short"),
        Some(&FieldValue::LongString(vec![b'x'; 300]))
    );
    assert_eq!(back.len(), 2, "a name over 255 bytes is left out");
}

#[test]
fn client_methods_decode() {
    let mut args = FieldTable::new();
    args.insert("x-max-length", FieldValue::LongInt(10));
    let cases = [
        (
            AMQPClass::Queue(queue::AMQPMethod::Declare(queue::Declare {
                queue: "q".into(),
                passive: false,
                durable: true,
                exclusive: false,
                auto_delete: true,
                nowait: false,
                arguments: table_to_wire(&args),
            })),
            Method::QueueDeclare {
                queue: "q".into(),
                passive: false,
                durable: true,
                exclusive: false,
                auto_delete: true,
                nowait: false,
                arguments: args.clone(),
            },
        ),
        (
            AMQPClass::Basic(basic::AMQPMethod::Publish(basic::Publish {
                exchange: "ex".into(),
                routing_key: "a.b".into(),
                mandatory: true,
                immediate: false,
            })),
            Method::Publish(Publish {
                exchange: "ex".into(),
                routing_key: "a.b".into(),
                mandatory: true,
                immediate: false,
            }),
        ),
        (
            AMQPClass::Basic(basic::AMQPMethod::Nack(basic::Nack {
                delivery_tag: 7,
                multiple: true,
                requeue: false,
            })),
            Method::Nack {
                delivery_tag: 7,
                multiple: true,
                requeue: false,
            },
        ),
        (
            AMQPClass::Connection(connection::AMQPMethod::TuneOk(connection::TuneOk {
                channel_max: 2047,
                frame_max: 4096,
                heartbeat: 1,
            })),
            Method::TuneOk {
                channel_max: 2047,
                frame_max: 4096,
                heartbeat: 1,
            },
        ),
        (
            AMQPClass::Basic(basic::AMQPMethod::Deliver(basic::Deliver {
                consumer_tag: "c".into(),
                delivery_tag: 1,
                redelivered: false,
                exchange: "".into(),
                routing_key: "".into(),
            })),
            Method::ServerOnly {
                class_id: 60,
                method_id: 60,
            },
        ),
        (
            AMQPClass::Tx(tx::AMQPMethod::Select(tx::Select {})),
            Method::TxSelect,
        ),
    ];
    for (wire, want) in cases {
        let got = decode_method(&gen_client(wire)).expect("decodes");
        assert_eq!(got, want);
    }
}

#[test]
fn qos_keeps_prefetch_size() {
    let payload = [0, 60, 0, 10, 0, 0, 1, 0, 0, 5, 1];
    assert_eq!(
        decode_method(&payload),
        Ok(Method::Qos {
            prefetch_size: 256,
            prefetch_count: 5,
            global: true
        })
    );
    assert!(decode_method(&payload[..10]).is_err());
}

#[test]
fn bad_payloads_are_frame_errors() {
    // channel.close whose reply text is not UTF-8.
    let bad_utf8 = [0, 20, 0, 40, 0, 200, 2, 0xff, 0xfe, 0, 0, 0, 0];
    let e = decode_method(&bad_utf8).expect_err("not UTF-8");
    assert_eq!((e.class_id, e.method_id), (20, 40));
    for payload in [
        &[][..],
        &[0, 60],
        &[0, 99, 0, 1],
        &[0, 60, 0, 40, 0],
        &[0, 20, 0, 10, 0, 9],
    ] {
        assert!(decode_method(payload).is_err(), "{payload:?}");
    }
    assert!(decode_header(&[0, 60, 0, 0]).is_err());
}

/// A queue.declare whose arguments nest `depth` tables.
fn nested_declare(depth: usize) -> Vec<u8> {
    // Innermost first: an empty table, then wrap it `depth - 1` times in {"a": F ...}.
    let mut table = 0u32.to_be_bytes().to_vec();
    for _ in 1..depth {
        let mut entry = vec![1, b'a', b'F'];
        entry.extend_from_slice(&table);
        table = (entry.len() as u32).to_be_bytes().to_vec();
        table.extend_from_slice(&entry);
    }
    let mut p = vec![0, 50, 0, 10, 0, 0, 1, b'q', 0];
    p.extend_from_slice(&table);
    p
}

#[test]
fn deep_tables_are_refused_before_parsing() {
    assert!(decode_method(&nested_declare(MAX_TABLE_DEPTH)).is_ok());
    let e = decode_method(&nested_declare(MAX_TABLE_DEPTH + 1)).expect_err("too deep");
    assert!(e.text.contains("nested"), "{}", e.text);
    // Deep enough to overflow a recursive parser's stack; refused in a few microseconds.
    assert!(decode_method(&nested_declare(20_000)).is_err());
}

#[test]
fn replies_encode_as_valid_frames() {
    let long = "é".repeat(200); // 400 bytes: truncated, never a panic
    let replies = [
        Reply::Start {
            server_properties: all_values(),
            mechanisms: "PLAIN AMQPLAIN".into(),
            locales: "en_US".into(),
        },
        Reply::Tune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        },
        Reply::OpenOk,
        Reply::ConnectionClose {
            reply_code: 320,
            reply_text: long.clone(),
            class_id: 0,
            method_id: 0,
        },
        Reply::ChannelClose {
            reply_code: 404,
            reply_text: "NOT_FOUND".into(),
            class_id: 50,
            method_id: 10,
        },
        Reply::QueueDeclareOk {
            queue: long.clone(),
            message_count: 1,
            consumer_count: 2,
        },
        Reply::GetOk {
            delivery_tag: 1,
            redelivered: false,
            exchange: "".into(),
            routing_key: "".into(),
            message_count: 0,
        },
        Reply::Return {
            reply_code: 312,
            reply_text: "NO_ROUTE".into(),
            exchange: "".into(),
            routing_key: "x".into(),
        },
        Reply::Ack {
            delivery_tag: 3,
            multiple: true,
        },
        Reply::Nack {
            delivery_tag: 3,
            multiple: false,
            requeue: false,
        },
        Reply::Blocked {
            reason: "low on memory".into(),
        },
        Reply::ConfirmSelectOk,
        Reply::Cancel {
            consumer_tag: "c".into(),
        },
    ];
    for reply in &replies {
        let mut out = Vec::new();
        write_method(&mut out, 3, reply).expect("encodes");
        let (rest, frame) = parse_frame(&out[..]).expect("parses");
        assert!(rest.is_empty());
        assert_eq!(frame.channel_id(), 3);
    }
}

#[test]
fn amqplain_responses() {
    let mut t = WireTable::default();
    t.insert(short("LOGIN"), AMQPValue::LongString("user".into()));
    t.insert(short("PASSWORD"), AMQPValue::LongString("pass".into()));
    let mut out = Vec::new();
    let ctx = amq_protocol::types::generation::gen_field_table(&t)(WriteContext::from(Vec::new()))
        .expect("encodes");
    out.extend_from_slice(&ctx.into_inner().0[4..]);
    assert_eq!(decode_amqplain(&out), Some(("user".into(), "pass".into())));
    assert_eq!(decode_amqplain(&out[..5]), None);
    assert_eq!(decode_amqplain(b""), None);
}

#[test]
fn short_truncates_at_char_boundaries() {
    assert_eq!(short("abc").as_str(), "abc");
    assert_eq!(short(&"a".repeat(300)).as_str().len(), 255);
    assert_eq!(short(&"é".repeat(200)).as_str().len(), 254);
}

#[test]
fn content_round_trips_and_splits_bodies() {
    let props = Properties {
        content_type: Some("text/plain".into()),
        headers: Some(all_values()),
        delivery_mode: Some(2),
        message_id: Some("m-1".into()),
        timestamp: Some(5),
        kind: Some("t".into()),
        ..Properties::default()
    };
    let body = vec![7u8; 10_000];
    let mut out = Vec::new();
    write_content(&mut out, 2, &props, &body, 4096).expect("encodes");
    let (mut rest, header) = parse_frame(&out[..]).expect("header parses");
    let AMQPFrame::Header(2, h) = header else {
        panic!("not a header: {header:?}")
    };
    assert_eq!(h.body_size, 10_000);
    let back = properties_from_wire(&h.properties);
    assert_eq!(back.message_id, props.message_id);
    assert_eq!(
        sorted(back.headers.as_ref().unwrap()),
        sorted(&all_values())
    );
    let mut sizes = Vec::new();
    while !rest.is_empty() {
        let (r, f) = parse_frame(rest).expect("body parses");
        let AMQPFrame::Body(2, b) = f else {
            panic!("not a body")
        };
        sizes.push(b.len());
        rest = r;
    }
    assert_eq!(sizes, [4088, 4088, 1824]);
    let mut empty = Vec::new();
    write_content(&mut empty, 1, &Properties::default(), &[], 4096).expect("encodes");
    assert_eq!(empty.len(), 22, "header frame only, no body frame");
}

/// The direct read of `basic.publish` gives what the general decoder gives, and leaves
/// anything unusual to it.
#[test]
fn publish_fast_path_agrees_with_the_general_decoder() {
    let general = |payload: &[u8]| match parse_class(payload) {
        Ok(([], class)) => Some(inbound::method_from_wire(class)),
        _ => None,
    };
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for (exchange, key, bits) in [
        ("", "q", 0u8),
        ("amq.topic", "a.b.c", 1),
        ("x", "", 2),
        ("ünï", "ключ", 3),
        (&"e".repeat(255)[..], &"k".repeat(255)[..], 0),
    ] {
        let mut p = vec![0, 60, 0, 40, 0, 0];
        p.push(exchange.len() as u8);
        p.extend_from_slice(exchange.as_bytes());
        p.push(key.len() as u8);
        p.extend_from_slice(key.as_bytes());
        p.push(bits);
        cases.push(p);
    }
    for p in &cases {
        let fast = publish_fast(&p[4..]).map(Method::Publish);
        assert!(fast.is_some(), "{p:?}");
        assert_eq!(fast, general(p), "{p:?}");
        assert_eq!(decode_method(p).ok(), fast);
    }
    // Unusual payloads take the general path.
    for p in [
        vec![0, 60, 0, 40, 0, 0, 1, 0xff, 0, 0], // invalid UTF-8
        vec![0, 60, 0, 40, 0, 0, 0, 0, 4],       // a reserved bit
        vec![0, 60, 0, 40, 0, 0, 0, 0, 0, 9],    // trailing byte
        vec![0, 60, 0, 40, 0, 0, 5, b'a'],       // short
    ] {
        assert_eq!(publish_fast(&p[4..]), None, "{p:?}");
    }
}

/// The direct read of a content header gives what the general decoder gives for every
/// combination of the simple properties, and leaves headers and oddities to it.
#[test]
fn header_fast_path_agrees_with_the_general_decoder() {
    let general = |payload: &[u8]| match amq_protocol::frame::parsing::parse_content_header(payload)
    {
        Ok(([], h)) => Some(ContentHeader {
            class_id: h.class_id,
            body_size: h.body_size,
            properties: properties_from_wire(&h.properties),
        }),
        _ => None,
    };
    let full = Properties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("gzip".into()),
        delivery_mode: Some(2),
        priority: Some(7),
        correlation_id: Some("c".into()),
        reply_to: Some("r".into()),
        expiration: Some("60000".into()),
        message_id: Some("ü".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("t".into()),
        user_id: Some("u".into()),
        app_id: Some("a".into()),
        cluster_id: Some("cl".into()),
        headers: None,
    };
    // Every subset of the 13 simple properties.
    for mask in 0u32..(1 << 13) {
        let p = subset(&full, mask);
        let mut out = Vec::new();
        write_content(&mut out, 1, &p, b"xyz", 131_072).unwrap();
        let payload = &out[7..7 + u32::from_be_bytes(out[3..7].try_into().unwrap()) as usize];
        let fast = header_fast(payload);
        assert!(fast.is_some(), "{mask:b}");
        assert_eq!(fast.map(|h| *h), general(payload), "{mask:b}");
    }
    // Headers take the general path.
    let mut h = FieldTable::new();
    h.insert("k", "v");
    let with_headers = Properties {
        headers: Some(h),
        ..Properties::default()
    };
    let mut out = Vec::new();
    write_content(&mut out, 1, &with_headers, b"", 131_072).unwrap();
    let payload = &out[7..7 + u32::from_be_bytes(out[3..7].try_into().unwrap()) as usize];
    assert_eq!(header_fast(payload), None);
    assert_eq!(decode_header(payload).ok().map(|h| *h), general(payload));
    // A truncated or over-long header too.
    let short = &payload[..payload.len() - 1];
    assert_eq!(header_fast(&short[..short.len().min(13)]), None);
}

#[test]
fn deliver_and_acks_are_the_bytes_amq_protocol_writes() {
    let general = |class: AMQPClass| {
        let mut out = Vec::new();
        gen_into(&mut out, &AMQPFrame::Method(5, class)).expect("encodes");
        out
    };
    let strings = [
        String::new(),
        "amq.ctag-x".into(),
        "a".repeat(255),
        "b".repeat(300),
        "é".repeat(200),
        "😀".repeat(70),
    ];
    for ctag in &strings {
        for key in &strings {
            for (tag, redelivered) in [(1, false), (u64::MAX, true)] {
                let mut fast = Vec::new();
                fast::write_deliver(&mut fast, 5, ctag, tag, redelivered, "ex", key);
                let want = general(AMQPClass::Basic(basic::AMQPMethod::Deliver(
                    basic::Deliver {
                        consumer_tag: short(ctag),
                        delivery_tag: tag,
                        redelivered,
                        exchange: short("ex"),
                        routing_key: short(key),
                    },
                )));
                assert_eq!(fast, want, "{} {}", ctag.len(), key.len());
            }
        }
    }
    for (tag, multiple) in [(0, false), (7, true), (u64::MAX, false)] {
        let mut fast = Vec::new();
        write_method(
            &mut fast,
            5,
            &Reply::Ack {
                delivery_tag: tag,
                multiple,
            },
        )
        .unwrap();
        let mut want = Vec::new();
        write_method_general(
            &mut want,
            5,
            &Reply::Ack {
                delivery_tag: tag,
                multiple,
            },
        )
        .unwrap();
        assert_eq!(fast, want);
        for requeue in [false, true] {
            let r = Reply::Nack {
                delivery_tag: tag,
                multiple,
                requeue,
            };
            let (mut fast, mut want) = (Vec::new(), Vec::new());
            write_method(&mut fast, 5, &r).unwrap();
            write_method_general(&mut want, 5, &r).unwrap();
            assert_eq!(fast, want);
        }
    }
}

#[test]
fn content_headers_are_the_bytes_amq_protocol_writes() {
    let long = "x".repeat(300);
    let full = Properties {
        content_type: Some("text/plain".into()),
        content_encoding: Some("é".repeat(200)),
        delivery_mode: Some(2),
        priority: Some(7),
        correlation_id: Some("c".into()),
        reply_to: Some(long.clone()),
        expiration: Some("60000".into()),
        message_id: Some("ü".into()),
        timestamp: Some(1_700_000_000),
        kind: Some("t".into()),
        user_id: Some("u".into()),
        app_id: Some("a".into()),
        cluster_id: Some("cl".into()),
        headers: Some(all_values()),
    };
    // Every subset of the 14 properties.
    for mask in 0u32..(1 << 14) {
        let p = subset(&full, mask);
        let (mut fast, mut want) = (Vec::new(), Vec::new());
        write_header(&mut fast, 9, 1 << 40, &p).unwrap();
        write_header_general(&mut want, 9, 1 << 40, &p).unwrap();
        assert_eq!(fast, want, "{mask:b}");
    }
}

/// The properties of `full` whose bit is set in `mask` (bit i: the i-th property in
/// wire order, headers last).
fn subset(full: &Properties, mask: u32) -> Properties {
    let pick = |i: u32| mask & (1 << i) != 0;
    let f = full;
    Properties {
        content_type: f.content_type.clone().filter(|_| pick(0)),
        content_encoding: f.content_encoding.clone().filter(|_| pick(1)),
        delivery_mode: f.delivery_mode.filter(|_| pick(2)),
        priority: f.priority.filter(|_| pick(3)),
        correlation_id: f.correlation_id.clone().filter(|_| pick(4)),
        reply_to: f.reply_to.clone().filter(|_| pick(5)),
        expiration: f.expiration.clone().filter(|_| pick(6)),
        message_id: f.message_id.clone().filter(|_| pick(7)),
        timestamp: f.timestamp.filter(|_| pick(8)),
        kind: f.kind.clone().filter(|_| pick(9)),
        user_id: f.user_id.clone().filter(|_| pick(10)),
        app_id: f.app_id.clone().filter(|_| pick(11)),
        cluster_id: f.cluster_id.clone().filter(|_| pick(12)),
        headers: f.headers.clone().filter(|_| pick(13)),
    }
}
