//! Throwaway certificates for the TLS tests, made with rcgen: a CA, a server
//! certificate for `localhost`, 127.0.0.1 and ::1, and client certificates named by
//! their common name, as PEM files in a fresh directory under the target's temporary
//! directory. Nothing is read from elsewhere.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA and a server certificate it signed, on disk.
pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    /// The CA certificate (PEM): what clients trust and client certificates chain to.
    pub(crate) ca: PathBuf,
    pub(crate) ca_pem: String,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A client certificate and its key, on disk and in memory (PEM).
pub(crate) struct ClientCert {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl Pki {
    /// A fresh CA (common name "`name` test CA") and server certificate in a new
    /// directory named after `name`.
    pub(crate) fn new(name: &str) -> Pki {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("tls")
            .join(format!(
                "{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory for the certificates");

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_pem = ca.self_signed(&ca_key).expect("CA certificate").pem();
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().expect("server key");
        let mut server = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .expect("server params");
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .expect("server certificate");

        let pki = Pki {
            ca: dir.join("ca_certificate.pem"),
            server_cert: dir.join("server_certificate.pem"),
            server_key: dir.join("server_key.pem"),
            dir,
            ca_pem,
            issuer,
        };
        write(&pki.ca, &pki.ca_pem);
        write(&pki.server_cert, &server_cert.pem());
        write(&pki.server_key, &server_key.serialize_pem());
        pki
    }

    /// A client certificate with subject common name `cn` (none if empty), signed
    /// by this CA.
    pub(crate) fn client(&self, cn: &str) -> ClientCert {
        let key = KeyPair::generate().expect("client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "trackswitch tests");
        if !cn.is_empty() {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("client certificate");
        let stem = if cn.is_empty() { "no-cn" } else { cn };
        let client = ClientCert {
            cert: self.dir.join(format!("client_{stem}_certificate.pem")),
            key: self.dir.join(format!("client_{stem}_key.pem")),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        write(&client.cert, &client.cert_pem);
        write(&client.key, &client.key_pem);
        client
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
