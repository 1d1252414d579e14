//! The real payloads in `../shared/fixtures` and `tests/fixtures` (ours, with
//! their origins in `tests/fixtures/SOURCES.md`), read as bytes (signatures
//! cover bytes).

use std::path::PathBuf;

pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|error| panic!("{}: {error}", full.display()))
}

/// A payload of ours, under `tests/fixtures`.
pub fn own_fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path);
    std::fs::read(&full).unwrap_or_else(|error| panic!("{}: {error}", full.display()))
}
