//! Test certificates made at run time (rcgen, ECDSA P-256): a CA, a server certificate for
//! `127.0.0.1` and `localhost`, a client certificate, and a second, unrelated CA, written as
//! PEM files into a temporary directory that lives as long as the [`Pki`].
//!
//! Nothing is checked in: each test run has keys of its own, and no certificate can expire
//! between runs.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A certificate authority: its certificate (self-signed) and key.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    /// A fresh CA named `name`.
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("a P-256 key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("a self-signed CA");
        Ca { cert, key }
    }

    /// The CA's certificate in PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf certificate signed by this CA for `names` (DNS names or IP addresses), usable
    /// for `usage` (server or client authentication).
    pub fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().expect("a P-256 key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("valid names");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("a signed leaf certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A leaf certificate and its private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate file and its key file.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A whole test PKI on disk: see the module docs. All paths are inside [`Pki::dir`].
pub struct Pki {
    dir: tempfile::TempDir,
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// A CA that signed nothing here: trusting it instead of [`Pki::ca`] must fail.
    pub other_ca: PathBuf,
    /// For `127.0.0.1` and `localhost`, server authentication.
    pub server: Pair,
    /// Client authentication (mTLS), signed by [`Pki::ca`].
    pub client: Pair,
    /// Client authentication signed by the other CA: refused where [`Pki::ca`] is required.
    pub stranger: Pair,
    /// The PEM texts, for tests that configure in process.
    pub ca_pem: String,
    pub server_issued: Issued,
    pub client_issued: Issued,
}

impl Pki {
    /// Makes every certificate and writes the files.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca = Ca::new("sagaflow test CA");
        let other = Ca::new("unrelated test CA");
        let server = ca.issue(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = ca.issue(&["sagaflow-worker"], ExtendedKeyUsagePurpose::ClientAuth);
        let stranger = other.issue(&["stranger"], ExtendedKeyUsagePurpose::ClientAuth);
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("writing a test certificate");
            path
        };
        let pair = |name: &str, issued: &Issued| Pair {
            cert: write(&format!("{name}.pem"), &issued.cert_pem),
            key: write(&format!("{name}.key"), &issued.key_pem),
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            other_ca: write("other-ca.pem", &other.pem()),
            server: pair("server", &server),
            client: pair("client", &client),
            stranger: pair("stranger", &stranger),
            ca_pem: ca.pem(),
            server_issued: server,
            client_issued: client,
            dir,
        }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}
