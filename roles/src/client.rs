//! The one HTTP client builder for callers of the Sagaflow API (`demo --api`, `load --api`,
//! the chaos and bench tools): a bearer token sent on every request when given, and an extra
//! trusted CA for an https:// API. There is no built-in root store (reqwest is built with
//! `rustls-tls-manual-roots`): an https:// API is trusted only through `--api-ca`, which may
//! name the system bundle for a public CA.

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use std::path::{Path, PathBuf};

/// A client of the API: `Authorization: Bearer <token>` on every request when `token` is
/// given, and the CA certificates of the PEM file `ca` trusted when given.
pub fn api_client(token: Option<&str>, ca: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    api_client_builder(token, ca)?
        .build()
        .context("building the API client")
}

/// [`api_client`]'s builder, for a caller that adds its own timeouts or pool settings.
pub fn api_client_builder(
    token: Option<&str>,
    ca: Option<&Path>,
) -> anyhow::Result<reqwest::ClientBuilder> {
    client_builder(token, ca, "--api-ca")
}

/// [`api_client_builder`] with the CA's flag named `ca_flag` in its errors.
pub(crate) fn client_builder(
    token: Option<&str>,
    ca: Option<&Path>,
    ca_flag: &str,
) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("--api-token holds characters a header cannot carry")?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);
        builder = builder.default_headers(headers);
    }
    if let Some(path) = ca {
        let pem = std::fs::read(path)
            .with_context(|| format!("{ca_flag} {}: cannot read it", path.display()))?;
        let cas = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{ca_flag} {}: not PEM certificates", path.display()))?;
        anyhow::ensure!(
            !cas.is_empty(),
            "{ca_flag} {}: no PEM certificate in it",
            path.display()
        );
        for ca in cas {
            builder = builder.add_root_certificate(ca);
        }
    }
    Ok(builder)
}

/// Refuses an https:// API with no `--api-ca`: with no built-in roots it could never be
/// trusted, and the failure would come later as a less clear handshake error.
pub fn check_api_url(api: &str, ca: Option<&Path>) -> anyhow::Result<()> {
    if api.starts_with("https://") && ca.is_none() {
        anyhow::bail!(
            "--api {api} is https:// but no --api-ca says which CA to trust (there is no \
             built-in root store; for a public CA name the system bundle, e.g. \
             /etc/ssl/certs/ca-certificates.crt)"
        );
    }
    Ok(())
}

/// The flags of a tool that calls a running API.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiClientArgs {
    /// Bearer token sent to the API (for a server run with --api-tokens or JWT).
    #[arg(long, env = "SAGAFLOW_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<String>,
    /// Trust the CA certificates in this PEM file for an https:// --api.
    #[arg(long, env = "SAGAFLOW_API_CA", value_name = "PATH")]
    pub api_ca: Option<PathBuf>,
}

impl ApiClientArgs {
    /// The client for `api`, refusing an https:// API without `--api-ca`.
    pub fn client(&self, api: &str) -> anyhow::Result<reqwest::Client> {
        self.builder(api)?
            .build()
            .context("building the API client")
    }

    /// The same as a builder.
    pub fn builder(&self, api: &str) -> anyhow::Result<reqwest::ClientBuilder> {
        check_api_url(api, self.api_ca.as_deref())?;
        api_client_builder(self.api_token.as_deref(), self.api_ca.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_api_needs_a_ca_and_a_bad_ca_file_is_named() {
        let err = check_api_url("https://127.0.0.1:1", None).unwrap_err();
        assert!(err.to_string().contains("no --api-ca"), "{err}");
        check_api_url("http://127.0.0.1:1", None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "no certificate here").unwrap();
        let err = api_client(None, Some(&junk)).unwrap_err();
        assert!(format!("{err:#}").contains("no PEM certificate"), "{err:#}");
        let err = api_client(None, Some(&dir.path().join("missing.pem"))).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read it"), "{err:#}");
        assert!(api_client(Some("bad\ntoken"), None).is_err());
        api_client(Some("secret"), None).unwrap();
    }
}
