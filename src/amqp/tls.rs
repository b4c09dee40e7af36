//! TLS listeners (feature `tls`): [`TlsConfig`], the certificate, key and client
//! verification an `amqps` listener serves with, loaded once from PEM files; the
//! per-connection TLS handshake (bounded by the handshake deadline, never on the
//! accept loop); and the name a verified client certificate logs in with (EXTERNAL).
//!
//! rustls does the TLS, with the ring provider: TLS 1.2 and 1.3, rustls' safe default
//! cipher suites. Client certificates are verified with webpki against the client CA
//! file; RabbitMQ's `verify` / `fail_if_no_peer_cert` pair becomes [`TlsVerify`].

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;

use super::Shared;
use super::connection::{self, PeerCert};

mod subject;

/// Whether a TLS listener asks clients for a certificate, and what it does without
/// one: RabbitMQ's `ssl_options.verify` and `ssl_options.fail_if_no_peer_cert`.
///
/// A certificate a client presents is always checked against the client CA file; one
/// that does not verify fails the TLS handshake.
///
/// # Examples
///
/// ```
/// use trackswitch::amqp::TlsVerify;
///
/// let v: TlsVerify = "fail_if_no_peer_cert".parse()?;
/// assert_eq!(v, TlsVerify::FailIfNoPeerCert);
/// assert_eq!(v.to_string(), "fail_if_no_peer_cert");
/// assert_eq!("verify_none".parse::<TlsVerify>()?, TlsVerify::None);
/// # Ok::<(), trackswitch::amqp::TlsError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TlsVerify {
    /// `verify_none`: no client certificate is asked for (RabbitMQ's default).
    #[default]
    None,
    /// `verify_peer`: a client certificate is asked for and verified if sent; clients
    /// without one are let in (and may log in with PLAIN or AMQPLAIN).
    VerifyPeer,
    /// `verify_peer` with `fail_if_no_peer_cert = true`: a client without a verified
    /// certificate fails the TLS handshake.
    FailIfNoPeerCert,
}

impl TlsVerify {
    /// Whether clients are asked for a certificate (so a client CA file is needed).
    fn asks_for_certificate(self) -> bool {
        self != TlsVerify::None
    }
}

impl fmt::Display for TlsVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVerify::None => "none",
            TlsVerify::VerifyPeer => "verify_peer",
            TlsVerify::FailIfNoPeerCert => "fail_if_no_peer_cert",
        })
    }
}

impl std::str::FromStr for TlsVerify {
    type Err = TlsError;

    /// `none` (or `verify_none`), `verify_peer`, `fail_if_no_peer_cert`.
    fn from_str(s: &str) -> Result<TlsVerify, TlsError> {
        match s {
            "none" | "verify_none" => Ok(TlsVerify::None),
            "verify_peer" => Ok(TlsVerify::VerifyPeer),
            "fail_if_no_peer_cert" => Ok(TlsVerify::FailIfNoPeerCert),
            other => Err(TlsError(format!(
                "unknown verification mode {other:?} (expected none, verify_peer or fail_if_no_peer_cert)"
            ))),
        }
    }
}

/// A TLS configuration the server cannot use: a file missing or unreadable, a PEM
/// file without the expected blocks, a key that does not match the certificate, a
/// verification mode without a client CA file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid TLS configuration: {}", self.0)
    }
}

impl std::error::Error for TlsError {}

/// What an `amqps` listener serves with: the server's certificate chain and private
/// key, and how clients are verified (see [`TlsVerify`]). Loaded and checked once, by
/// [`TlsConfigBuilder::build`]; cheap to clone (one shared rustls configuration).
///
/// Give it to [`Server::listen_tls`](super::Server::listen_tls) or
/// [`Server::bind_tls`](super::Server::bind_tls).
///
/// # Examples
///
/// ```no_run
/// use trackswitch::amqp::{Server, ServerConfig, TlsConfig, TlsVerify};
/// use trackswitch::broker::Broker;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = TlsConfig::builder("server_certificate.pem", "server_key.pem")
///     .client_ca("ca_certificate.pem")
///     .verify(TlsVerify::VerifyPeer)
///     .build()?;
/// let mut server = Server::bind("127.0.0.1:5672", Broker::new(), ServerConfig::default()).await?;
/// server.listen_tls("127.0.0.1:5671", tls).await?;
/// server.run().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    /// Invariant: asks for client certificates exactly when `verify` does.
    acceptor: TlsAcceptor,
    verify: TlsVerify,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A builder for a listener with this certificate chain (PEM `CERTIFICATE`
    /// blocks, the server's first) and private key (PEM PKCS#8, PKCS#1 or SEC1).
    pub fn builder(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsConfigBuilder {
        TlsConfigBuilder {
            cert_chain: cert_chain.into(),
            key: key.into(),
            client_ca: None,
            verify: None,
        }
    }

    /// How clients are verified.
    pub fn verify(&self) -> TlsVerify {
        self.verify
    }
}

/// Builds a [`TlsConfig`] (see [`TlsConfig::builder`]).
#[derive(Debug, Clone)]
pub struct TlsConfigBuilder {
    cert_chain: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    /// `None`: [`TlsVerify::VerifyPeer`] with a client CA file, else [`TlsVerify::None`].
    verify: Option<TlsVerify>,
}

impl TlsConfigBuilder {
    /// The CA certificates (PEM) that client certificates must chain to (RabbitMQ's
    /// `cacertfile`). With it, verification defaults to [`TlsVerify::VerifyPeer`].
    pub fn client_ca(mut self, path: impl Into<PathBuf>) -> TlsConfigBuilder {
        self.client_ca = Some(path.into());
        self
    }

    /// How clients are verified (default: `VerifyPeer` with a client CA file, `None`
    /// without).
    pub fn verify(mut self, verify: TlsVerify) -> TlsConfigBuilder {
        self.verify = Some(verify);
        self
    }

    /// Reads and checks the files.
    ///
    /// # Errors
    ///
    /// A file cannot be read; the chain has no PEM certificate or the key file no PEM
    /// private key; the key does not match the first certificate or is of a kind
    /// rustls cannot sign with; a verification mode that asks for client certificates
    /// without a client CA file, or a CA file without a usable certificate.
    pub fn build(self) -> Result<TlsConfig, TlsError> {
        let verify = self.verify.unwrap_or(if self.client_ca.is_some() {
            TlsVerify::VerifyPeer
        } else {
            TlsVerify::None
        });
        let certs = read_certificates(&self.cert_chain)?;
        let key_pem = read(&self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            pem_error(
                &self.key,
                "PEM private key (a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)",
                &e,
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError(format!("rustls: {e}")))?;
        let builder = if verify.asks_for_certificate() {
            let Some(ca) = &self.client_ca else {
                return Err(TlsError(format!(
                    "verification mode {verify} needs a client CA file"
                )));
            };
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(ca)? {
                roots.add(cert).map_err(|e| {
                    TlsError(format!(
                        "{}: not a usable CA certificate: {e}",
                        ca.display()
                    ))
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if verify == TlsVerify::VerifyPeer {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(certs, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError(format!(
                "the private key in {} does not match the certificate in {}",
                self.key.display(),
                self.cert_chain.display()
            )),
            e => TlsError(format!("{}: unusable private key: {e}", self.key.display())),
        })?;
        Ok(TlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            verify,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("cannot read {}: {e}", path.display())))
}

fn pem_error(path: &Path, expected: &str, e: &pem::Error) -> TlsError {
    match e {
        pem::Error::NoItemsFound => TlsError(format!("{}: no {expected} found", path.display())),
        e => TlsError(format!("{}: bad PEM: {e}", path.display())),
    }
}

const CERTIFICATE: &str = "PEM certificate (a CERTIFICATE block)";

/// Every `CERTIFICATE` block of a PEM file; at least one.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, CERTIFICATE, &e))?;
    if certs.is_empty() {
        return Err(pem_error(path, CERTIFICATE, &pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// Runs the TLS handshake of an accepted connection by `deadline` (the connection's
/// handshake deadline, which the AMQP handshake then shares), then serves it. A
/// handshake that fails, stalls or is overtaken by shutdown drops the connection
/// with one log line.
pub(super) async fn serve(
    config: TlsConfig,
    stream: TcpStream,
    peer: SocketAddr,
    deadline: Instant,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = stream.local_addr().unwrap_or(peer);
    let handshake = timeout_at(deadline, config.acceptor.accept(stream));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = async { let _ = shutdown.wait_for(|&s| s).await; } => return,
    };
    let cert = match stream.get_ref().1.peer_certificates() {
        Some([end_entity, ..]) => match subject::common_names(end_entity) {
            Some(names) if !names.is_empty() => PeerCert::Name(names.join(",")),
            _ => PeerCert::NoName,
        },
        _ => PeerCert::Absent,
    };
    let protocol = stream
        .get_ref()
        .1
        .protocol_version()
        .and_then(|v| v.as_str())
        .unwrap_or("?");
    tracing::debug!(%peer, protocol, client_certificate = ?cert, "TLS handshake done");
    let (rd, wr) = tokio::io::split(stream);
    connection::serve(
        Box::new(rd),
        Box::new(wr),
        connection::Accepted {
            peer,
            local,
            deadline,
            tls: Some(cert),
        },
        shared,
        shutdown,
    )
    .await;
}
