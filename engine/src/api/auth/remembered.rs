//! Verified JWTs remembered until they expire, so a client that sends the same token with
//! every request pays for one signature check, not one per request (an RS256 check costs
//! about as much CPU as the rest of a cheap request: BENCHMARKS.md, "Authentication and TLS").
//!
//! Keyed by the SHA-256 of the whole token: only the exact bytes that were verified match,
//! and the keys never change while the process runs (they are read once at start), so a
//! remembered answer is what verifying again would give, but for the clock: `exp` is checked
//! again on every use, with the same leeway. (`nbf` needs no second look: a token valid once
//! stays valid until `exp`.) Refusals are not remembered. Bounded: when full, expired entries
//! go, and if none had, all of them.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Most tokens remembered at once.
pub(super) const ENTRIES_MAX: usize = 4096;

/// Remembers a `T` (what a token was verified as) per token.
pub(super) struct Remembered<T> {
    entries: Mutex<HashMap<[u8; 32], Entry<T>>>,
}

impl<T> Default for Remembered<T> {
    fn default() -> Remembered<T> {
        Remembered {
            entries: Mutex::default(),
        }
    }
}

struct Entry<T> {
    verified: T,
    /// The token's `exp`, seconds since the epoch.
    exp: u64,
}

impl<T: Clone> Remembered<T> {
    /// The caller of `token` if it was verified before and has not expired at `now` (seconds
    /// since the epoch), allowing `leeway` seconds as the verification does.
    pub(super) fn get(&self, token: &str, now: u64, leeway: u64) -> Option<T> {
        let key = digest(token);
        let mut entries = self.lock();
        let entry = entries.get(&key)?;
        if entry.exp.saturating_add(leeway) < now {
            entries.remove(&key);
            return None;
        }
        Some(entry.verified.clone())
    }

    /// Remembers that `token`, valid until `exp`, was verified as `verified`.
    pub(super) fn put(&self, token: &str, verified: T, exp: u64, now: u64, leeway: u64) {
        let mut entries = self.lock();
        if entries.len() >= ENTRIES_MAX {
            entries.retain(|_, e| e.exp.saturating_add(leeway) >= now);
            if entries.len() >= ENTRIES_MAX {
                entries.clear();
            }
        }
        entries.insert(digest(token), Entry { verified, exp });
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry<T>>> {
        // Plain data that no panic leaves half-written.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::jwt::Verified;
    use crate::api::auth::scope::Scopes;

    fn alice() -> Verified {
        Verified {
            subject: "alice".into(),
            scopes: Scopes::all(),
        }
    }

    #[test]
    fn a_remembered_token_answers_until_it_expires_with_the_leeway() {
        let r = Remembered::<Verified>::default();
        assert_eq!(r.get("t", 100, 30), None);
        r.put("t", alice(), 200, 100, 30);
        assert_eq!(r.get("t", 150, 30), Some(alice()));
        assert_eq!(r.get("t", 230, 30), Some(alice()), "within the leeway");
        assert_eq!(r.get("t2", 150, 30), None, "only the exact token");
        assert_eq!(r.get("t", 231, 30), None, "expired");
        assert_eq!(r.len(), 0, "an expired entry is dropped when found");
    }

    #[test]
    fn a_full_memory_drops_expired_entries_first_then_everything() {
        let r = Remembered::<Verified>::default();
        for i in 0..ENTRIES_MAX {
            let exp = if i % 2 == 0 { 50 } else { 500 };
            r.put(&format!("t{i}"), alice(), exp, 10, 0);
        }
        assert_eq!(r.len(), ENTRIES_MAX);
        r.put("new", alice(), 500, 100, 0);
        assert_eq!(r.len(), ENTRIES_MAX / 2 + 1, "the expired half went");
        assert_eq!(r.get("t1", 100, 0), Some(alice()));
        for i in 0..ENTRIES_MAX {
            r.put(&format!("u{i}"), alice(), 500, 100, 0);
        }
        assert!(r.len() <= ENTRIES_MAX);
    }
}
