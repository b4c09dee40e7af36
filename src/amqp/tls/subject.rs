//! The common names (OID 2.5.4.3) of an X.509 certificate's subject: what EXTERNAL
//! logs in as, RabbitMQ's `ssl_cert_login_from = common_name`.
//!
//! A few lines of DER walking rather than an X.509 crate: the path is fixed
//! (Certificate → TBSCertificate → subject → RDNs → attributes), the certificate has
//! already been parsed and verified by webpki, and every step is bounds-checked, so
//! a malformed input gives `None`, never a panic.

/// DER tags on the way.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0] EXPLICIT Version` in a TBSCertificate.
const VERSION: u8 = 0xa0;
/// 2.5.4.3, id-at-commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject's common names in certificate order, decoded as RabbitMQ's
/// `rabbit_cert_info` decodes directory strings (UTF8String, PrintableString,
/// IA5String, TeletexString as Latin-1, BMPString, UniversalString). `None` if the
/// DER is malformed; values of other string types are skipped.
pub(super) fn common_names(cert: &[u8]) -> Option<Vec<String>> {
    let (certificate, _) = expect(cert, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs)?.2;
    }
    // serialNumber, signature, issuer, validity; then the subject.
    for _ in 0..4 {
        tbs = element(tbs)?.2;
    }
    let (mut rdns, _) = expect(tbs, SEQUENCE)?;
    let mut names = Vec::new();
    while !rdns.is_empty() {
        let (mut attributes, rest) = expect(rdns, SET)?;
        rdns = rest;
        while !attributes.is_empty() {
            let (attribute, rest) = expect(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = expect(attribute, OID)?;
            if oid == COMMON_NAME {
                let (tag, bytes, _) = element(value)?;
                names.extend(directory_string(tag, bytes));
            }
        }
    }
    Some(names)
}

/// One DER element: its tag, its contents and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags do not occur on this path
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (digits, rest) = rest.split_at(n);
        let len = digits
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The contents of an element with tag `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (t, contents, rest) if t == tag => Some((contents, rest)),
        _ => None,
    }
}

/// A DirectoryString's text.
fn directory_string(tag: u8, bytes: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String (ASCII is UTF-8)
        0x0c | 0x13 | 0x16 => String::from_utf8(bytes.to_vec()).ok(),
        // TeletexString: Latin-1, as Erlang reads it
        0x14 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        0x1e if bytes.len() % 2 == 0 => {
            let units = bytes
                .chunks_exact(2)
                .map(|u| u16::from_be_bytes([u[0], u[1]]));
            char::decode_utf16(units).collect::<Result<_, _>>().ok()
        }
        // UniversalString: UTF-32BE
        0x1c if bytes.len() % 4 == 0 => bytes
            .chunks_exact(4)
            .map(|u| char::from_u32(u32::from_be_bytes([u[0], u[1], u[2], u[3]])))
            .collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue, KeyPair};

    fn cert(dn: DistinguishedName) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name = dn;
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn common_names_of_each_string_type() {
        for (value, want) in [
            (DnValue::Utf8String("app".into()), "app"),
            (DnValue::Utf8String("café ü".into()), "café ü"),
            (
                DnValue::PrintableString("O-K 1".try_into().expect("printable")),
                "O-K 1",
            ),
            (DnValue::Ia5String("a@b".try_into().expect("ia5")), "a@b"),
            (
                DnValue::TeletexString("tele".try_into().expect("teletex")),
                "tele",
            ),
            (DnValue::BmpString("bmp€".try_into().expect("bmp")), "bmp€"),
            (
                DnValue::UniversalString("uni😀".try_into().expect("universal")),
                "uni😀",
            ),
        ] {
            let mut dn = DistinguishedName::new();
            dn.push(DnType::OrganizationName, "org");
            dn.push(DnType::CommonName, value);
            dn.push(DnType::CountryName, "NL");
            assert_eq!(common_names(&cert(dn)), Some(vec![want.to_string()]));
        }
    }

    #[test]
    fn no_common_name() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "org");
        assert_eq!(common_names(&cert(dn)), Some(vec![]));
        assert_eq!(common_names(&cert(DistinguishedName::new())), Some(vec![]));
    }

    fn der(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        let contents = parts.concat();
        let mut out = vec![tag];
        if contents.len() < 0x80 {
            out.push(contents.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(contents.len() as u16).to_be_bytes());
        }
        out.extend(contents);
        out
    }

    /// rcgen keeps one value per attribute type, so this subject is built by hand:
    /// two RDNs with a common name each, and one RDN with two attributes (one a
    /// common name), without the optional version field.
    #[test]
    fn several_common_names_in_order() {
        let cn = |v: &str| {
            der(
                SEQUENCE,
                &[&der(OID, &[COMMON_NAME]), &der(0x0c, &[v.as_bytes()])],
            )
        };
        let org = der(
            SEQUENCE,
            &[&der(OID, &[&[0x55, 0x04, 0x0a]]), &der(0x13, &[b"o"])],
        );
        let subject = der(
            SEQUENCE,
            &[
                &der(SET, &[&cn("a")]),
                &der(SET, &[&org, &cn("b")]),
                &der(SET, &[&cn("c")]),
            ],
        );
        let empty = der(SEQUENCE, &[]);
        let tbs = der(
            SEQUENCE,
            &[
                &der(0x02, &[&[1]]),
                &empty,
                &empty,
                &empty,
                &subject,
                &empty,
            ],
        );
        let cert = der(SEQUENCE, &[&tbs, &empty, &der(0x03, &[&[0]])]);
        assert_eq!(
            common_names(&cert),
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn malformed_der_is_none_not_a_panic() {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "app");
        let good = cert(dn);
        for cut in 0..good.len() {
            // The outer length no longer fits: every truncation fails.
            if let Some(names) = common_names(&good[..cut]) {
                panic!("a truncated certificate ({cut} bytes) parsed: {names:?}");
            }
        }
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff],
            &[0x1f, 0x00],
            &[0x30, 0x80],
        ] {
            assert_eq!(common_names(bad), None, "{bad:?}");
        }
        // Flipping any byte never panics.
        for i in 0..good.len() {
            let mut flipped = good.clone();
            flipped[i] ^= 0xff;
            let _ = common_names(&flipped);
        }
    }
}
