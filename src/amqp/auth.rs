//! Users and passwords: RabbitMQ's `rabbit_password_hashing_sha256` scheme, the PLAIN
//! mechanism's response, and the configuration's users and permissions loaded into
//! the broker, whose user store logins are checked against.
//!
//! A stored hash is `base64(salt ++ sha256(salt ++ password))` with a 4-byte salt, the
//! format of `password_hash` in RabbitMQ's definitions files, so users can be copied
//! from there. SHA-256 and base64 are small enough to write here (FIPS 180-4, RFC 4648)
//! rather than add dependencies; tests check them against published vectors. The
//! broker stores hashes and never reads them: verifying is this module's.

use std::fmt;
use std::io;

use super::config::{ServerConfig, err as config_error};
use crate::broker::{AccessControl, Broker, Permissions, UserRecord};

/// A user allowed to log in.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// `base64(salt4 ++ sha256(salt4 ++ password))`.
    pub password_hash: String,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl User {
    /// A user with a freshly salted hash of `password`.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackswitch::amqp::User;
    ///
    /// let u = User::new("app", "s3cret");
    /// assert!(u.check_password("s3cret"));
    /// assert!(!u.check_password("guess"));
    /// ```
    pub fn new(name: &str, password: &str) -> User {
        User {
            name: name.to_owned(),
            password_hash: hash_password(password, random_salt()),
        }
    }

    /// RabbitMQ's default user, `guest`/`guest` (loopback only, by
    /// [`ServerConfig::loopback_users`](super::ServerConfig::loopback_users)).
    pub fn guest() -> User {
        User::new("guest", "guest")
    }

    /// Whether `password` matches the stored hash (compared in constant time).
    pub fn check_password(&self, password: &str) -> bool {
        check_hash(&self.password_hash, password)
    }
}

/// The user of the broker's store (the configured users are loaded into it) that
/// `name` and `password` log in as from `peer` (`None`: no password to check, the
/// TLS certificate spoke for the user), or why not, in RabbitMQ's words: a wrong
/// password or an unknown user, and its `loopback_users` rule (held to loopback by
/// name, whoever defines the user; an IPv4-mapped `::ffff:127.x` peer is loopback too).
pub(crate) fn login(
    broker: &Broker,
    config: &ServerConfig,
    name: &str,
    password: Option<&str>,
    peer: std::net::IpAddr,
) -> Result<UserRecord, String> {
    let user = broker
        .user(name)
        .filter(|u| password.is_none_or(|p| verify(u, p)));
    match user {
        None => Err(format!("user '{name}' - invalid credentials")),
        Some(u)
            if !peer.to_canonical().is_loopback() && config.loopback_users.contains(&u.name) =>
        {
            Err(format!("user '{name}' can only connect via localhost"))
        }
        Some(u) => Ok(u),
    }
}

/// Whether `password` matches a user of the broker's store: its hash must be
/// [`UserRecord::SHA256`] (the only algorithm verified here).
fn verify(user: &UserRecord, password: &str) -> bool {
    user.hashing_algorithm == UserRecord::SHA256 && check_hash(&user.password_hash, password)
}

/// Whether `password` matches `base64(salt4 ++ sha256(salt4 ++ password))`, compared
/// in constant time.
fn check_hash(hash: &str, password: &str) -> bool {
    let Some(stored) = base64_decode(hash) else {
        return false;
    };
    if stored.len() != 4 + 32 {
        return false;
    }
    let mut input = stored[..4].to_vec();
    input.extend_from_slice(password.as_bytes());
    let digest = sha256(&input);
    digest
        .iter()
        .zip(&stored[4..])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Checks what [`load`] needs of `config` and `broker`, changing nothing: each entry
/// of `permissions` names a user (in `users` or the broker's store) and a vhost (in
/// `vhosts` or the broker), and its regexes compile.
///
/// # Errors
///
/// `InvalidInput`, with a [`ConfigError`](super::ConfigError) naming the entry.
pub(crate) fn check(broker: &Broker, config: &ServerConfig) -> io::Result<()> {
    let Some(list) = &config.permissions else {
        return Ok(());
    };
    let vhosts = broker.vhosts();
    for (i, p) in list.iter().enumerate() {
        let problem = if !config.users.iter().any(|u| u.name == p.user)
            && broker.user(&p.user).is_none()
        {
            format!("user '{}' does not exist", p.user)
        } else if p.vhost != "/" && !config.vhosts.contains(&p.vhost) && !vhosts.contains(&p.vhost)
        {
            format!("vhost '{}' does not exist", p.vhost)
        } else {
            let Permissions {
                configure,
                write,
                read,
            } = &p.permissions;
            let bad = [("configure", configure), ("write", write), ("read", read)]
                .into_iter()
                .find_map(|(which, re)| {
                    crate::broker::check_regex(re)
                        .err()
                        .map(|reason| format!("invalid {which} regex '{re}': {reason}"))
                });
            match bad {
                Some(problem) => problem,
                None => continue,
            }
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            config_error(format!("permissions[{i}]: {problem}")),
        ));
    }
    Ok(())
}

/// Loads `config` into `broker` (after [`check`]): its vhosts, its users (replacing
/// the hash of a user of the same name, whose tags stay; a new one is tagged
/// `administrator`), their permissions (see
/// [`ServerConfig::permissions`]), and turns access control on.
pub(crate) fn load(broker: &Broker, config: &ServerConfig) {
    for vhost in &config.vhosts {
        broker.add_vhost(vhost);
    }
    for u in &config.users {
        // A new one is tagged `administrator`, as RabbitMQ's default user
        // (`default_user_tags`): the configured users may use the management API.
        let mut record = broker.user(&u.name).unwrap_or_else(|| UserRecord {
            tags: vec!["administrator".into()],
            ..UserRecord::new(&u.name, "")
        });
        record.password_hash.clone_from(&u.password_hash);
        record.hashing_algorithm = UserRecord::SHA256.into();
        broker.add_user(record);
    }
    // Checked: only a concurrent delete of a vhost makes one fail, and then there
    // is nothing to grant there.
    match &config.permissions {
        None => {
            for u in &config.users {
                for vhost in broker.vhosts() {
                    let _ = broker.set_permissions(&u.name, &vhost, Permissions::all());
                }
            }
        }
        Some(list) => {
            for p in list {
                let _ = broker.set_permissions(&p.user, &p.vhost, p.permissions.clone());
            }
        }
    }
    for u in broker.users() {
        if u.hashing_algorithm != UserRecord::SHA256 {
            tracing::warn!(
                user = %u.name,
                algorithm = %u.hashing_algorithm,
                "only {} hashes are verified: this user cannot log in",
                UserRecord::SHA256
            );
        }
    }
    broker.set_access_control(AccessControl::Enforced);
}

/// `base64(salt ++ sha256(salt ++ password))`, RabbitMQ's SHA-256 password hash.
///
/// # Examples
///
/// ```
/// use trackswitch::amqp::hash_password;
///
/// // The example from RabbitMQ's docs: salt 908DC60A, password "test12".
/// let h = hash_password("test12", [0x90, 0x8D, 0xC6, 0x0A]);
/// assert_eq!(h, "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR");
/// ```
pub fn hash_password(password: &str, salt: [u8; 4]) -> String {
    let mut input = salt.to_vec();
    input.extend_from_slice(password.as_bytes());
    let mut out = salt.to_vec();
    out.extend_from_slice(&sha256(&input));
    base64_encode(&out)
}

/// Four bytes from the operating system's random source (RabbitMQ's salt length).
fn random_salt() -> [u8; 4] {
    let mut salt = [0u8; 4];
    getrandom::fill(&mut salt).expect("the operating system's random source");
    salt
}

/// The PLAIN response `[authzid] \0 user \0 password`.
pub(crate) fn parse_plain(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|&b| b == 0);
    let _authzid = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    Some((
        String::from_utf8(user.to_vec()).ok()?,
        String::from_utf8(pass.to_vec()).ok()?,
    ))
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// SHA-256 (FIPS 180-4) of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding; `None` for anything malformed.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, chunk) in s.chunks(4).enumerate() {
        let last = ci == s.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            let v = B64.iter().position(|&b| b == c)? as u32;
            n = (n << 6) | v;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_matches_published_vectors() {
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(&sha256(&vec![b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn base64_round_trips() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(raw.as_bytes()), enc);
            assert_eq!(base64_decode(enc).as_deref(), Some(raw.as_bytes()));
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Z!==", "é"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn rabbitmq_password_hashes_verify() {
        // A hash for "guest" in RabbitMQ's format: salt 908DC60A.
        let u = User {
            name: "guest".into(),
            password_hash: hash_password("guest", [0x90, 0x8D, 0xC6, 0x0A]),
        };
        assert!(u.check_password("guest"));
        assert!(!u.check_password("Guest"));
        let bad = User {
            password_hash: "not base64".into(),
            ..u
        };
        assert!(!bad.check_password("guest"));
    }

    #[test]
    fn plain_responses() {
        assert_eq!(parse_plain(b"\0u\0p"), Some(("u".into(), "p".into())));
        assert_eq!(parse_plain(b"authz\0u\0p"), Some(("u".into(), "p".into())));
        assert_eq!(parse_plain(b"\0u"), None);
        assert_eq!(parse_plain(b"\0u\0p\0x"), None);
        assert_eq!(parse_plain(b"\0\xff\0p"), None);
    }
}
