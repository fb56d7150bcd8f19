//! Static API tokens (`--api-tokens`): opaque shared secrets from the configuration, compared
//! in constant time, each known by a stable name that is not the secret.
//!
//! Not user management: a static token carries every scope, and its name (`token:` and the
//! first 8 hex digits of its SHA-256) is what the workflow records as who acted.

use sha2::{Digest, Sha256};

/// The configured token equal to `presented`, if any. Every token is compared, each over the
/// whole presented length, so the time taken says nothing about where a guess went wrong or
/// which token matched.
pub(super) fn matching<'t>(tokens: &'t [String], presented: &[u8]) -> Option<&'t str> {
    tokens.iter().fold(None, |found, token| {
        let equal = constant_time_eq(token.as_bytes(), presented);
        match (found, equal) {
            (None, true) => Some(token.as_str()),
            (found, _) => found,
        }
    })
}

/// Byte-wise equality whose running time depends only on the presented length.
fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    if expected.is_empty() {
        return false; // an empty configured token never matches
    }
    let mut diff = expected.len() ^ presented.len();
    for (i, byte) in presented.iter().enumerate() {
        diff |= usize::from(expected[i % expected.len()] ^ byte);
    }
    std::hint::black_box(diff) == 0
}

/// The subject of a static token: `token:` and the first 8 hex digits of its SHA-256. Stable
/// across restarts and processes, and 32 bits of a hash say nothing useful about the secret.
pub fn subject(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("token:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exact_configured_token_is_accepted() {
        let tokens = vec!["s3cret".to_owned(), "other-token".to_owned()];
        assert_eq!(matching(&tokens, b"s3cret"), Some("s3cret"));
        assert_eq!(matching(&tokens, b"other-token"), Some("other-token"));
        for wrong in [
            &b""[..],
            b"s3cre",
            b"s3crett",
            b"S3cret",
            b"s3cret\0",
            b"other",
        ] {
            assert_eq!(matching(&tokens, wrong), None, "{wrong:?}");
        }
        assert_eq!(
            matching(&[String::new()], b""),
            None,
            "an empty token never matches"
        );
    }

    #[test]
    fn a_static_token_is_named_by_its_hash_not_its_secret() {
        // `printf s3cret-token | sha256sum` begins a81e611a.
        let name = subject("s3cret-token");
        assert_eq!(name, "token:a81e611a");
        assert_eq!(name, subject("s3cret-token"), "stable");
        assert_ne!(name, subject("s3cret-tokeN"));
        assert!(!name.contains("s3cret"));
    }
}
