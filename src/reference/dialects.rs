//! The MQTT and NATS matchers, each written from its specification alone: they share no
//! code with the trie or with [`crate::topic`]'s checks.

/// Splits on `sep`. Used only for MQTT and NATS, where the empty string is never a
/// valid topic or subject, so it needs no zero-word case.
fn levels(s: &[u8], sep: u8) -> Vec<&[u8]> {
    s.split(|&b| b == sep).collect()
}

/// Whether `topic` is an MQTT topic name (MQTT 3.1.1 sections 1.5.3 and 4.7): one to
/// 65535 bytes [MQTT-4.7.3-1] [MQTT-4.7.3-3], well-formed UTF-8 [MQTT-1.5.3-1], no
/// U+0000 [MQTT-4.7.3-2], no wildcard character [MQTT-4.7.1-1].
///
/// ```
/// use trackswitch::reference;
///
/// assert!(reference::mqtt_topic_name_is_valid(b"/finance"));
/// assert!(!reference::mqtt_topic_name_is_valid(b"sport/+"));
/// assert!(!reference::mqtt_topic_name_is_valid(b""));
/// ```
pub fn mqtt_topic_name_is_valid(topic: &[u8]) -> bool {
    !topic.is_empty()
        && topic.len() <= 65_535
        && std::str::from_utf8(topic).is_ok()
        && !topic.contains(&0)
        && !topic.contains(&b'+')
        && !topic.contains(&b'#')
}

/// Whether `filter` is an MQTT topic filter: the string rules of a topic name, `+` only
/// as a whole level [MQTT-4.7.1-3], `#` only as the whole last level [MQTT-4.7.1-2].
///
/// ```
/// use trackswitch::reference;
///
/// assert!(reference::mqtt_filter_is_valid(b"sport/+/player1/#"));
/// assert!(!reference::mqtt_filter_is_valid(b"sport/tennis#"));
/// assert!(!reference::mqtt_filter_is_valid(b"sport+"));
/// ```
pub fn mqtt_filter_is_valid(filter: &[u8]) -> bool {
    if filter.is_empty()
        || filter.len() > 65_535
        || std::str::from_utf8(filter).is_err()
        || filter.contains(&0)
    {
        return false;
    }
    let l = levels(filter, b'/');
    l.iter().enumerate().all(|(i, level)| {
        let hash_ok = !level.contains(&b'#') || (*level == b"#" && i + 1 == l.len());
        let plus_ok = !level.contains(&b'+') || *level == b"+";
        hash_ok && plus_ok
    })
}

/// Whether the MQTT topic filter `filter` (assumed valid) matches the topic name
/// `topic`, by MQTT 3.1.1 section 4.7 (MQTT 5 section 4.7 is the same): levels split
/// on `/`, `+` one level, `#` the parent and any levels below, filters starting with a
/// wildcard never match topics starting with `$` [MQTT-4.7.2-1]. False when `topic`
/// is not a valid topic name.
///
/// ```
/// use trackswitch::reference;
///
/// assert!(reference::mqtt_matches(b"sport/#", b"sport"));
/// assert!(reference::mqtt_matches(b"+/+", b"/finance"));
/// assert!(!reference::mqtt_matches(b"#", b"$SYS/uptime"));
/// ```
pub fn mqtt_matches(filter: &[u8], topic: &[u8]) -> bool {
    if !mqtt_topic_name_is_valid(topic) {
        return false;
    }
    if topic[0] == b'$' && (filter.starts_with(b"+") || filter.starts_with(b"#")) {
        return false;
    }
    mqtt_levels(&levels(filter, b'/'), &levels(topic, b'/'))
}

fn mqtt_levels(f: &[&[u8]], t: &[&[u8]]) -> bool {
    match (f.first(), t.first()) {
        (None, _) => t.is_empty(),
        // `#` is last: it takes the parent (nothing left) and any levels below.
        (Some(&b"#"), _) => true,
        (Some(_), None) => false,
        (Some(&b"+"), Some(_)) => mqtt_levels(&f[1..], &t[1..]),
        (Some(a), Some(b)) => a == b && mqtt_levels(&f[1..], &t[1..]),
    }
}

/// Whether `subject` is a NATS subject a subscriber may use: non-empty, at most 65535
/// bytes, no empty token, no whitespace, `>` only as the last token.
///
/// ```
/// use trackswitch::reference;
///
/// assert!(reference::nats_subject_is_valid(b"foo.*.>"));
/// assert!(!reference::nats_subject_is_valid(b"foo..bar"));
/// assert!(!reference::nats_subject_is_valid(b"foo.>.bar"));
/// ```
pub fn nats_subject_is_valid(subject: &[u8]) -> bool {
    if subject.is_empty() || subject.len() > 65_535 {
        return false;
    }
    let t = levels(subject, b'.');
    t.iter().enumerate().all(|(i, token)| {
        !token.is_empty()
            && !token.iter().any(|b| b" \t\r\n\x0c".contains(b))
            && (*token != b">" || i + 1 == t.len())
    })
}

/// Whether `subject` is a NATS subject a publisher may send: valid, and no `*` or `>`
/// token.
pub fn nats_literal_is_valid(subject: &[u8]) -> bool {
    nats_subject_is_valid(subject)
        && levels(subject, b'.')
            .iter()
            .all(|t| *t != b"*" && *t != b">")
}

/// Whether the NATS subject `pattern` (assumed valid) matches the literal subject
/// `subject`: tokens split on `.`, `*` one token, `>` one or more tokens (NATS
/// documentation, "Subject-Based Messaging", wildcards). False when `subject` is not a
/// valid literal subject.
///
/// ```
/// use trackswitch::reference;
///
/// assert!(reference::nats_matches(b"foo.*", b"foo.bar"));
/// assert!(!reference::nats_matches(b"foo.*", b"foo.bar.baz"));
/// assert!(!reference::nats_matches(b"foo.>", b"foo"));
/// ```
pub fn nats_matches(pattern: &[u8], subject: &[u8]) -> bool {
    nats_literal_is_valid(subject) && nats_tokens(&levels(pattern, b'.'), &levels(subject, b'.'))
}

fn nats_tokens(p: &[&[u8]], s: &[&[u8]]) -> bool {
    match (p.first(), s.first()) {
        (None, _) => s.is_empty(),
        (Some(_), None) => false,
        // `>` is last: it takes this token and any after it.
        (Some(&b">"), Some(_)) => true,
        (Some(&b"*"), Some(_)) => nats_tokens(&p[1..], &s[1..]),
        (Some(a), Some(b)) => a == b && nats_tokens(&p[1..], &s[1..]),
    }
}
