//! The JWT flags of `server` and `dev`: a JWKS file of RS256/ES256 public keys, an HS256
//! secret file, the issuer and audience every token must name, and the leeway on `exp` and
//! `nbf`. Turned into the engine's [`engine::api::Jwt`] at start; a file that cannot be read
//! or used is one [`ConfigError`] naming the flag and the path.
//!
//! Not the static tokens (`--api-tokens`, `settings::api_tokens`): both may be set, and a
//! bearer token that is not a JWT is compared with those.

use super::ConfigError;
use crate::duration::{self, HumanDuration};
use engine::api::Jwt;
use std::path::{Path, PathBuf};

/// JWT authentication of the API. Off unless a key (`--jwt-jwks`) or a secret
/// (`--jwt-hs256-secret-file`) is given.
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtArgs {
    /// JSON Web Key Set of the public keys that sign API tokens (RS256, ES256), each with a
    /// `kid`. Tokens then need the scope of the route (sagaflow:read, sagaflow:submit,
    /// sagaflow:operate) in their `scope` or `scp` claim.
    #[arg(long, env = "SAGAFLOW_JWT_JWKS", value_name = "PATH")]
    pub jwt_jwks: Option<PathBuf>,
    /// File holding the HS256 secret (at least 32 bytes; a trailing newline is dropped).
    #[arg(long, env = "SAGAFLOW_JWT_HS256_SECRET_FILE", value_name = "PATH")]
    pub jwt_hs256_secret_file: Option<PathBuf>,
    /// The `iss` every token must carry. [default: not checked]
    #[arg(long, env = "SAGAFLOW_JWT_ISSUER", value_name = "ISS")]
    pub jwt_issuer: Option<String>,
    /// The `aud` every token must name. [default: not checked]
    #[arg(long, env = "SAGAFLOW_JWT_AUDIENCE", value_name = "AUD")]
    pub jwt_audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf` (whole seconds count).
    #[arg(
        long,
        env = "SAGAFLOW_JWT_LEEWAY",
        value_name = "DURATION",
        value_parser = duration::seconds,
        default_value_t = HumanDuration::from(Jwt::LEEWAY_DEFAULT)
    )]
    pub jwt_leeway: HumanDuration,
}

impl JwtArgs {
    /// The engine's JWT verifier, or `None` when no key or secret is given. Reads the files.
    pub fn jwt(&self) -> Result<Option<Jwt>, ConfigError> {
        if self.jwt_jwks.is_none() && self.jwt_hs256_secret_file.is_none() {
            if self.jwt_issuer.is_some() || self.jwt_audience.is_some() {
                return Err(ConfigError::JwtWithoutKey);
            }
            return Ok(None);
        }
        let mut jwt = Jwt::default().with_leeway(self.jwt_leeway.get());
        if let Some(path) = &self.jwt_jwks {
            let text = read(path, "--jwt-jwks")?;
            let text = String::from_utf8(text).map_err(|_| bad(path, "--jwt-jwks", "not UTF-8"))?;
            jwt = jwt
                .with_jwks(&text)
                .map_err(|e| bad(path, "--jwt-jwks", &e.to_string()))?;
        }
        if let Some(path) = &self.jwt_hs256_secret_file {
            let flag = "--jwt-hs256-secret-file";
            let secret = read(path, flag)?;
            jwt = jwt
                .with_hs256_secret(trim_newline(&secret))
                .map_err(|e| bad(path, flag, &e.to_string()))?;
        }
        if let Some(issuer) = &self.jwt_issuer {
            jwt = jwt.with_issuer(issuer);
        }
        if let Some(audience) = &self.jwt_audience {
            jwt = jwt.with_audience(audience);
        }
        Ok(Some(jwt))
    }
}

fn read(path: &Path, flag: &'static str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| bad(path, flag, &e.to_string()))
}

fn bad(path: &Path, flag: &'static str, detail: &str) -> ConfigError {
    ConfigError::JwtFile {
        flag,
        path: path.display().to_string(),
        detail: detail.to_owned(),
    }
}

/// The secret without the line ending an editor or `echo` leaves at its end.
fn trim_newline(secret: &[u8]) -> &[u8] {
    let secret = secret.strip_suffix(b"\n").unwrap_or(secret);
    secret.strip_suffix(b"\r").unwrap_or(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn no_key_means_no_jwt_and_claims_without_a_key_are_refused() {
        assert_eq!(JwtArgs::default().jwt().unwrap().map(|_| ()), None);
        let args = JwtArgs {
            jwt_issuer: Some("https://idp".into()),
            ..JwtArgs::default()
        };
        assert_eq!(args.jwt().unwrap_err(), ConfigError::JwtWithoutKey);
    }

    #[test]
    fn a_secret_file_is_read_without_its_newline() {
        let secret = file(b"0123456789abcdef0123456789abcdef\n");
        let args = JwtArgs {
            jwt_hs256_secret_file: Some(secret.path().into()),
            jwt_audience: Some("sagaflow".into()),
            ..JwtArgs::default()
        };
        let jwt = args.jwt().unwrap().expect("configured");
        assert!(jwt.accepts_any());
        // 31 bytes and a newline: too short once the newline is dropped.
        let short = file(b"0123456789abcdef0123456789abcde\n");
        let args = JwtArgs {
            jwt_hs256_secret_file: Some(short.path().into()),
            ..JwtArgs::default()
        };
        let err = args.jwt().unwrap_err().to_string();
        assert!(
            err.contains("--jwt-hs256-secret-file") && err.contains("31 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_or_bad_jwks_names_the_flag_and_the_path() {
        let args = JwtArgs {
            jwt_jwks: Some("/nonexistent/jwks.json".into()),
            ..JwtArgs::default()
        };
        let err = args.jwt().unwrap_err().to_string();
        assert!(
            err.starts_with("--jwt-jwks /nonexistent/jwks.json: "),
            "{err}"
        );
        let garbage = file(b"{\"keys\": 1}");
        let args = JwtArgs {
            jwt_jwks: Some(garbage.path().into()),
            ..JwtArgs::default()
        };
        let err = args.jwt().unwrap_err().to_string();
        assert!(err.contains("not a JSON Web Key Set"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn the_leeway_defaults_to_30_seconds() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            jwt: JwtArgs,
        }
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.jwt.jwt_leeway.get(), std::time::Duration::from_secs(30));
        let cli = Cli::try_parse_from(["x", "--jwt-leeway", "5s"]).unwrap();
        assert_eq!(cli.jwt.jwt_leeway.get(), std::time::Duration::from_secs(5));
    }
}
