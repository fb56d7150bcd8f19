//! The API's scopes: what a caller may do, one per kind of route (read, submit, operate), and
//! how a JWT names them (`scope`, space-separated, or `scp`, a list).
//!
//! Not a role system: a scope is a flag a token carries; the route table in `api::endpoints`
//! says which one each route needs. Scopes this server does not know are ignored.

use serde::Deserialize;
use std::fmt;

/// One permission of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `sagaflow:read`: every GET of data (workflows, types, overview, the OpenAPI document,
    /// metrics).
    Read,
    /// `sagaflow:submit`: `POST /v1/workflows`.
    Submit,
    /// `sagaflow:operate`: abort and retry.
    Operate,
}

impl Scope {
    /// Every scope, in the order they are documented.
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Submit, Scope::Operate];

    /// The scope's name in a token.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "sagaflow:read",
            Scope::Submit => "sagaflow:submit",
            Scope::Operate => "sagaflow:operate",
        }
    }

    fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes a caller holds (a small set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// Every scope: what a static API token (or no auth at all) allows.
    pub fn all() -> Scopes {
        Scopes(Scope::ALL.into_iter().fold(0, |bits, s| bits | s.bit()))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }

    /// The scopes named by a token's `scope` (space-separated) and `scp` (a list, or a
    /// space-separated string as some issuers write it) claims, together.
    pub fn from_claims(scope: Option<&Names>, scp: Option<&Names>) -> Scopes {
        [scope, scp]
            .into_iter()
            .flatten()
            .flat_map(Names::iter)
            .filter_map(Scope::parse)
            .fold(Scopes::default(), Scopes::with)
    }
}

/// A claim that names scopes: one space-separated string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Names {
    Spaced(String),
    List(Vec<String>),
}

impl Names {
    fn iter(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self {
            Names::Spaced(text) => Box::new(text.split_ascii_whitespace()),
            Names::List(items) => Box::new(items.iter().flat_map(|i| i.split_ascii_whitespace())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spaced(text: &str) -> Names {
        Names::Spaced(text.into())
    }

    fn list(items: &[&str]) -> Names {
        Names::List(items.iter().map(|i| (*i).to_owned()).collect())
    }

    #[test]
    fn scope_claims_name_scopes_by_space_separated_string_or_list() {
        let s = Scopes::from_claims(Some(&spaced("openid sagaflow:read  sagaflow:submit")), None);
        assert!(s.contains(Scope::Read) && s.contains(Scope::Submit));
        assert!(!s.contains(Scope::Operate));

        let s = Scopes::from_claims(None, Some(&list(&["sagaflow:operate", "other"])));
        assert_eq!(s, Scopes::default().with(Scope::Operate));

        // Both claims count; `scp` as a string is read like `scope`.
        let s = Scopes::from_claims(
            Some(&spaced("sagaflow:read")),
            Some(&spaced("sagaflow:operate")),
        );
        assert!(s.contains(Scope::Read) && s.contains(Scope::Operate));
        assert!(!s.contains(Scope::Submit));
    }

    #[test]
    fn only_exact_scope_names_count() {
        for wrong in [
            "sagaflow:READ",
            "sagaflow:read:all",
            "read",
            "sagaflow:",
            "",
            "sagaflow:readsagaflow:submit",
        ] {
            let s = Scopes::from_claims(Some(&spaced(wrong)), Some(&list(&[wrong])));
            assert_eq!(s, Scopes::default(), "{wrong:?}");
        }
        assert_eq!(Scopes::from_claims(None, None), Scopes::default());
    }

    #[test]
    fn all_holds_every_scope() {
        for scope in Scope::ALL {
            assert!(Scopes::all().contains(scope), "{scope}");
            assert!(!Scopes::default().contains(scope), "{scope}");
        }
    }

    #[test]
    fn claims_deserialize_as_string_or_list() {
        let s: Names = serde_json::from_str(r#""a b""#).unwrap();
        assert_eq!(s, spaced("a b"));
        let l: Names = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(l, list(&["a", "b"]));
        assert!(serde_json::from_str::<Names>("42").is_err());
    }
}
