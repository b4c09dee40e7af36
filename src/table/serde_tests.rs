//! Round trips of the table's public data types through serde (feature `serde`).

use super::{ExchangeKind, ExchangeOptions, TableOptions, TopicDialect};

#[test]
fn exchange_kinds_are_rabbitmq_names() {
    for (kind, json) in [
        (ExchangeKind::Direct, r#""direct""#),
        (ExchangeKind::Fanout, r#""fanout""#),
        (ExchangeKind::Topic, r#""topic""#),
        (ExchangeKind::Headers, r#""headers""#),
    ] {
        assert_eq!(serde_json::to_string(&kind).unwrap(), json);
        assert_eq!(serde_json::from_str::<ExchangeKind>(json).unwrap(), kind);
        assert_eq!(json.trim_matches('"'), kind.as_str());
    }
    assert!(serde_json::from_str::<ExchangeKind>(r#""x-delayed-message""#).is_err());
    assert!(serde_json::from_str::<ExchangeKind>(r#""Topic""#).is_err());
}

#[test]
fn exchange_options_round_trip_and_default_missing_fields() {
    let options = ExchangeOptions {
        durable: true,
        auto_delete: false,
        internal: true,
        alternate_exchange: Some("ae".into()),
    };
    let json = serde_json::to_string(&options).unwrap();
    assert_eq!(
        json,
        r#"{"durable":true,"auto_delete":false,"internal":true,"alternate_exchange":"ae"}"#
    );
    assert_eq!(
        serde_json::from_str::<ExchangeOptions>(&json).unwrap(),
        options
    );
    assert_eq!(
        serde_json::from_str::<ExchangeOptions>(r#"{"durable": true}"#).unwrap(),
        ExchangeOptions {
            durable: true,
            ..ExchangeOptions::default()
        }
    );
}

#[test]
fn table_options_round_trip() {
    for options in [
        TableOptions::default(),
        TableOptions {
            max_hash_words: Some(2),
            ..TableOptions::default()
        },
        TableOptions {
            max_hash_words: None,
            topic_dialect: TopicDialect::Mqtt,
        },
    ] {
        let json = serde_json::to_string(&options).unwrap();
        assert_eq!(
            serde_json::from_str::<TableOptions>(&json).unwrap(),
            options
        );
    }
    assert_eq!(
        serde_json::from_str::<TableOptions>("{}").unwrap(),
        TableOptions::default()
    );
}
