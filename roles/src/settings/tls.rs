//! TLS flags, checked and loaded at start: [`ServerTls`] (`--tls-cert`, `--tls-key`,
//! `--tls-client-ca`) for what serves HTTP — `server`, `dev`'s API and `service` — and
//! [`ParticipantTls`] (`--participant-ca`, `--participant-cert`, `--participant-key`) for a
//! worker's calls to its participants. Every file is read and parsed here, before anything
//! listens or connects, so that a bad one is one line naming its flag and path, exit 1.
//!
//! There is no built-in root store (reqwest's `rustls-tls-manual-roots`): an https://
//! participant is trusted only through `--participant-ca`, and a worker with an https:// URL
//! but no `--participant-ca` refuses to start. Public CAs work by naming the system's bundle
//! (`--participant-ca /etc/ssl/certs/ca-certificates.crt`). ARCHITECTURE.md, "TLS", says why.

use super::ConfigError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use worker::{ClientTls, Services};

/// HTTPS for a server: a certificate and key (both or neither), and optionally the CA whose
/// client certificates are then required (mTLS).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTls {
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "SAGAFLOW_TLS_CERT", value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SAGAFLOW_TLS_KEY", value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// Require a client certificate signed by a CA in this PEM file (mTLS); clients without
    /// one are refused during the handshake. Needs --tls-cert.
    #[arg(long, env = "SAGAFLOW_TLS_CLIENT_CA", value_name = "PATH")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// The rustls configuration to serve with, `None` for plain HTTP. Refuses a certificate
    /// without a key (or the reverse), a client CA without a certificate, and any file that
    /// cannot be read or parsed.
    pub fn load(&self) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) if self.tls_client_ca.is_some() => {
                return Err(tls_error(
                    "--tls-client-ca needs --tls-cert and --tls-key (mTLS is part of TLS)",
                ))
            }
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(tls_error("--tls-cert needs --tls-key (both or neither)"))
            }
            (None, Some(_)) => {
                return Err(tls_error("--tls-key needs --tls-cert (both or neither)"))
            }
        };
        let cert_pem = read("--tls-cert", cert)?;
        let key_pem = read("--tls-key", key)?;
        let client_ca = match &self.tls_client_ca {
            Some(path) => Some(read("--tls-client-ca", path)?),
            None => None,
        };
        httpguard::tls::server_config(&cert_pem, &key_pem, client_ca.as_deref())
            .map(Some)
            .map_err(|err| {
                let flag = match err {
                    httpguard::TlsError::NoCertificate | httpguard::TlsError::Certificate(_) => {
                        format!("--tls-cert {}", cert.display())
                    }
                    httpguard::TlsError::Key(_) => format!("--tls-key {}", key.display()),
                    httpguard::TlsError::NoClientCa | httpguard::TlsError::ClientCa(_) => {
                        let path = self.tls_client_ca.as_deref().unwrap_or(Path::new(""));
                        format!("--tls-client-ca {}", path.display())
                    }
                    httpguard::TlsError::Config(_) => format!(
                        "--tls-cert {} with --tls-key {}",
                        cert.display(),
                        key.display()
                    ),
                };
                ConfigError::Tls(format!("{flag}: {err}"))
            })
    }

    /// Whether HTTPS is asked for (both files given; [`ServerTls::load`] checks the rest).
    pub fn enabled(&self) -> bool {
        self.tls_cert.is_some()
    }

    /// `https` when TLS is on, else `http`: for the URLs a role prints and logs.
    pub fn scheme(&self) -> &'static str {
        scheme(self.enabled())
    }
}

/// `https` or `http`.
pub fn scheme(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

/// How a worker's calls to https:// participants are secured: the CAs it trusts, and the
/// client certificate it presents to services that require one (mTLS).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantTls {
    /// Trust the CA certificates in this PEM file for https:// participant URLs (the only
    /// roots trusted: there is no built-in store; name the system bundle for public CAs).
    /// Required when --services holds an https:// URL.
    #[arg(long, env = "SAGAFLOW_PARTICIPANT_CA", value_name = "PATH")]
    pub participant_ca: Option<PathBuf>,
    /// Present this PEM client certificate to participants (for services run with
    /// --tls-client-ca); needs --participant-key.
    #[arg(long, env = "SAGAFLOW_PARTICIPANT_CERT", value_name = "PATH")]
    pub participant_cert: Option<PathBuf>,
    /// The PEM private key of --participant-cert.
    #[arg(long, env = "SAGAFLOW_PARTICIPANT_KEY", value_name = "PATH")]
    pub participant_key: Option<PathBuf>,
}

impl ParticipantTls {
    /// Reads and checks the files against the participants' URLs: an https:// URL needs
    /// --participant-ca, the certificate needs its key (and the reverse), and each file must
    /// hold what its flag says.
    pub fn load(&self, services: &Services) -> Result<ClientTls, ConfigError> {
        // The first https:// service by name, so the message does not depend on map order.
        let https = services
            .names()
            .filter(|name| {
                services
                    .get(name)
                    .is_some_and(|u| u.starts_with("https://"))
            })
            .min();
        if let (Some(name), None) = (https, &self.participant_ca) {
            return Err(tls_error(&format!(
                "service `{name}` is https:// ({}) but no --participant-ca says which CA to \
                 trust (there is no built-in root store; for a public CA name the system \
                 bundle, e.g. /etc/ssl/certs/ca-certificates.crt)",
                services.get(name).unwrap_or_default()
            )));
        }
        let ca = match &self.participant_ca {
            Some(path) => {
                let pem = read("--participant-ca", path)?;
                let certs = httpguard::tls::certificates(&pem)
                    .map_err(|e| flag_error("--participant-ca", path, &e))?;
                if certs.is_empty() {
                    return Err(flag_error("--participant-ca", path, "no PEM certificate"));
                }
                Some(pem)
            }
            None => None,
        };
        let identity = match (&self.participant_cert, &self.participant_key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(tls_error(
                    "--participant-cert needs --participant-key (both or neither)",
                ))
            }
            (None, Some(_)) => {
                return Err(tls_error(
                    "--participant-key needs --participant-cert (both or neither)",
                ))
            }
            (Some(cert), Some(key)) => Some(identity("--participant", cert, key)?),
        };
        Ok(ClientTls {
            ca_pem: ca,
            identity_pem: identity,
        })
    }

    /// These settings as `sagaflow worker` flags, for starting worker processes.
    pub fn to_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        for (flag, path) in [
            ("--participant-ca", &self.participant_ca),
            ("--participant-cert", &self.participant_cert),
            ("--participant-key", &self.participant_key),
        ] {
            if let Some(path) = path {
                flags.push(format!("{flag}={}", path.display()));
            }
        }
        flags
    }
}

/// A client identity from `{prefix}-cert` and `{prefix}-key` files: both parsed (so a bad
/// one is named), then joined as one PEM text.
fn identity(prefix: &str, cert: &Path, key: &Path) -> Result<Vec<u8>, ConfigError> {
    let cert_flag = format!("{prefix}-cert");
    let key_flag = format!("{prefix}-key");
    let cert_pem = read(&cert_flag, cert)?;
    let key_pem = read(&key_flag, key)?;
    match httpguard::tls::certificates(&cert_pem) {
        Ok(certs) if !certs.is_empty() => {}
        Ok(_) => return Err(flag_error(&cert_flag, cert, "no PEM certificate")),
        Err(e) => return Err(flag_error(&cert_flag, cert, &e)),
    }
    httpguard::tls::private_key(&key_pem)
        .map_err(|e| flag_error(&key_flag, key, &format!("no PEM private key: {e}")))?;
    let mut joined = cert_pem;
    joined.push(b'\n');
    joined.extend_from_slice(&key_pem);
    Ok(joined)
}

/// A file's contents, or an error naming the flag and the path.
pub(crate) fn read(flag: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| flag_error(flag, path, &format!("cannot read it: {e}")))
}

fn flag_error(flag: &str, path: &Path, problem: &str) -> ConfigError {
    ConfigError::Tls(format!("{flag} {}: {problem}", path.display()))
}

fn tls_error(message: &str) -> ConfigError {
    ConfigError::Tls(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(cert: Option<&str>, key: Option<&str>, ca: Option<&str>) -> ServerTls {
        ServerTls {
            tls_cert: cert.map(PathBuf::from),
            tls_key: key.map(PathBuf::from),
            tls_client_ca: ca.map(PathBuf::from),
        }
    }

    #[test]
    fn server_tls_is_both_files_or_neither() {
        assert!(server(None, None, None).load().unwrap().is_none());
        let half = server(Some("c.pem"), None, None).load().unwrap_err();
        assert_eq!(
            half.to_string(),
            "--tls-cert needs --tls-key (both or neither)"
        );
        let half = server(None, Some("k.pem"), None).load().unwrap_err();
        assert!(
            half.to_string().starts_with("--tls-key needs --tls-cert"),
            "{half}"
        );
        let ca_only = server(None, None, Some("ca.pem")).load().unwrap_err();
        assert!(
            ca_only.to_string().starts_with("--tls-client-ca needs"),
            "{ca_only}"
        );
    }

    #[test]
    fn a_missing_or_bad_file_is_named_with_its_flag() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not PEM at all").unwrap();
        let missing = dir.path().join("missing.pem");
        let err = server(missing.to_str(), junk.to_str(), None)
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("--tls-cert {}: cannot read it", missing.display())),
            "{err}"
        );
        let err = server(junk.to_str(), junk.to_str(), None)
            .load()
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("--tls-cert {}: no certificate", junk.display())),
            "{err}"
        );
    }

    #[test]
    fn an_https_participant_needs_a_ca_and_a_client_cert_needs_its_key() {
        let https = Services::parse("user=https://127.0.0.1:1,order=http://127.0.0.1:2").unwrap();
        let err = ParticipantTls::default()
            .load(&https)
            .unwrap_err()
            .to_string();
        assert!(err.contains("service `user` is https://"), "{err}");
        let plain = Services::parse("user=http://127.0.0.1:1").unwrap();
        assert!(ParticipantTls::default()
            .load(&plain)
            .unwrap()
            .ca_pem
            .is_none());
        let half = ParticipantTls {
            participant_cert: Some("c.pem".into()),
            ..ParticipantTls::default()
        };
        let err = half.load(&plain).unwrap_err().to_string();
        assert!(
            err.starts_with("--participant-cert needs --participant-key"),
            "{err}"
        );
    }
}
