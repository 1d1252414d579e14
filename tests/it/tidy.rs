//! The codebase keeps its own map: every source file says what it is in a
//! `//!` line, and ARCHITECTURE.md's codemap names every top-level module.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_what_it_is() {
    let mut files = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let unmarked: Vec<String> = files
        .iter()
        .filter(|path| !path.ends_with("tests.rs"))
        .filter(|path| !std::fs::read_to_string(path).unwrap().starts_with("//!"))
        .map(|path| path.display().to_string())
        .collect();
    assert!(unmarked.is_empty(), "no `//!` first line: {unmarked:?}");
}

#[test]
fn the_codemap_names_every_top_level_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let missing: Vec<String> = std::fs::read_dir(root.join("src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            let shown = match path.is_dir() {
                true => format!("`{name}/`"),
                false => format!("`{name}`"),
            };
            (name != "lib.rs" && !map.contains(&shown)).then_some(shown)
        })
        .collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md does not name {missing:?}");
}
