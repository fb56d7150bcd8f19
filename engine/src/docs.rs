//! Tests that hold the reference documents under `docs/` to the code, and the guard that keeps
//! the repository self-contained: no tracked file may point at a document that is not in it.
//!
//! Test-only (`#[cfg(test)]`). The documents are read from the working tree at run time
//! (`CARGO_MANIFEST_DIR/..`), so an edited document is checked without a rebuild.

mod tests;
