//! TLS for [`crate::serve`]: the rustls server configuration made from PEM files' contents
//! (a certificate chain, its private key, and optionally the CA whose client certificates are
//! required: mTLS). rustls with the ring provider only (ARCHITECTURE.md, "TLS"), HTTP/1.1 by
//! ALPN, as the server speaks nothing else.
//!
//! Parsing only: reading the files and naming the flags in errors is the caller's.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;

/// Why PEM contents do not make a server configuration. Each message says which part.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("no certificate in the certificate file (expected PEM `BEGIN CERTIFICATE` blocks)")]
    NoCertificate,
    #[error("the certificate file is not valid PEM: {0}")]
    Certificate(String),
    #[error(
        "no private key in the key file (expected a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA \
         PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block): {0}"
    )]
    Key(String),
    #[error("no CA certificate in the client CA file (expected PEM `BEGIN CERTIFICATE` blocks)")]
    NoClientCa,
    #[error("the client CA file does not hold usable CA certificates: {0}")]
    ClientCa(String),
    #[error("the certificate and key do not go together, or are not usable: {0}")]
    Config(String),
}

/// Every certificate in a PEM text, in order (an empty list when it holds none).
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM text.
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| e.to_string())
}

/// The ring provider: the one crypto provider of the workspace, chosen explicitly so that no
/// process-wide default has to be installed.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from a PEM certificate chain (leaf first) and its key; with
/// `client_ca`, a client certificate signed by one of its CAs is required (mTLS) and any
/// other client is refused during the handshake. ALPN offers `http/1.1` only.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert_pem).map_err(TlsError::Certificate)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = private_key(key_pem).map_err(TlsError::Key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let cas = certificates(pem).map_err(TlsError::ClientCa)?;
            if cas.is_empty() {
                return Err(TlsError::NoClientCa);
            }
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
