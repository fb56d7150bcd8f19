//! The set of loaded workflow types, by name and version.
//!
//! In memory only: the engine's `definition::load_dir` reads the `*.toml` files of a
//! directory (so a user adds a workflow type without recompiling) and inserts them here; the
//! shipped ones are built into the binary. Not a hot-reloader: a registry is built once at
//! start-up and shared read-only.

use super::{Definition, Error};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

/// The definitions shipped in the repository's `workflows/`, built into the binary so the
/// engine runs from any directory.
const SHIPPED: &[(&str, &str)] = &[(
    "workflows/purchase.toml",
    include_str!("../../../workflows/purchase.toml"),
)];

/// Loaded workflow types; every version stays loaded so running workflows keep theirs.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    types: HashMap<String, BTreeMap<u32, Arc<Definition>>>,
}

impl Registry {
    /// The definitions built into the binary.
    pub fn shipped() -> Registry {
        let mut registry = Registry::default();
        for (file, text) in SHIPPED {
            let def =
                Definition::parse(Path::new(file), text).expect("shipped definitions are valid");
            registry
                .insert(def)
                .expect("shipped definitions are distinct");
        }
        registry
    }

    /// Adds one definition; a second definition of the same name and version is an error.
    pub fn insert(&mut self, def: Definition) -> Result<(), Error> {
        let versions = self.types.entry(def.name.clone()).or_default();
        if let Some(other) = versions.get(&def.version) {
            return Err(Error::Duplicate {
                file: def.source.clone(),
                name: def.name.clone(),
                version: def.version,
                other: other.source.clone(),
            });
        }
        versions.insert(def.version, Arc::new(def));
        Ok(())
    }

    /// The newest version of a type: what a new workflow of that type runs.
    pub fn latest(&self, name: &str) -> Option<&Arc<Definition>> {
        self.types.get(name)?.values().next_back()
    }

    /// One exact version: what a running workflow keeps using.
    pub fn get(&self, name: &str, version: u32) -> Option<&Arc<Definition>> {
        self.types.get(name)?.get(&version)
    }

    /// Every loaded (type, version) pair, by name then version: what a worker with this
    /// registry can run, and so all it may claim.
    pub fn versions(&self) -> Vec<(String, u32)> {
        self.all()
            .into_iter()
            .map(|d| (d.name.clone(), d.version))
            .collect()
    }

    /// Every loaded definition, by name then version.
    pub fn all(&self) -> Vec<&Arc<Definition>> {
        let mut all: Vec<_> = self.types.values().flat_map(|v| v.values()).collect();
        all.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        all
    }
}
