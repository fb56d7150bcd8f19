//! Workflow types as data (the pure part is `kernel::definition`, re-exported here under its
//! old path) and the one file-system read of the engine's definitions: [`load_dir`], which
//! reads the `*.toml` files of `--workflows-dir` once at start-up and hands their text to the
//! pure [`Definition::parse`].

pub use kernel::definition::*;

use std::path::{Path, PathBuf};

/// Every `*.toml` file of `dir`, in name order, in a new [`Registry`]. One bad file fails the
/// whole load; the error names it.
pub fn load_dir(dir: &Path) -> Result<Registry, Error> {
    let read_err = |source| Error::Read {
        file: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut registry = Registry::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Read {
            file: file.clone(),
            source,
        })?;
        registry.insert(Definition::parse(&file, &text)?)?;
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
version = 1
[[steps]]
name = "a"
service = "s"
action = { path = "/a" }
"#;

    #[test]
    fn the_shipped_file_and_the_built_in_copy_agree() {
        let from_dir = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../workflows"))
            .expect("workflows/ loads");
        let shipped = Registry::shipped();
        let (file, built_in) = (from_dir.latest("purchase"), shipped.latest("purchase"));
        assert_eq!(
            file.map(|d| &d.steps),
            built_in.map(|d| &d.steps),
            "the file and the built-in copy agree"
        );
        assert!(file.is_some());
    }

    #[test]
    fn load_dir_names_the_bad_file_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), MINIMAL).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        assert!(load_dir(dir.path()).unwrap().get("t", 1).is_some());
        std::fs::write(dir.path().join("b.toml"), MINIMAL).unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("b.toml") && err.contains("a.toml") && err.contains("already defined"),
            "{err}"
        );
        std::fs::write(dir.path().join("b.toml"), "steps = 3").unwrap();
        let err = load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("b.toml"), "{err}");
        assert!(load_dir(&dir.path().join("missing")).is_err());
    }
}
