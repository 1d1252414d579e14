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

#[test]
fn the_dockerfile_stands_in_for_every_target_the_manifest_declares() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let benches: Vec<&str> = manifest
        .split("[[bench]]")
        .skip(1)
        .filter_map(|section| section.lines().find_map(|line| line.strip_prefix("name = ")))
        .map(|name| name.trim_matches('"'))
        .collect();
    assert!(!benches.is_empty());
    let stand_ins =
        dockerfile.lines().find(|line| line.contains("for bench in")).expect("a loop over the benches");
    for bench in benches {
        assert!(
            stand_ins.contains(&format!(" {bench}")),
            "the Dockerfile's dependency stage lacks bench `{bench}`"
        );
    }
    assert!(!dockerfile.contains("|| true"), "a failing dependency stage must fail the build");
}

#[test]
fn the_deployment_config_passes_check_with_its_variables_set() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["check", "--config"])
        .arg(root.join("deploy/bridge.yaml"))
        .env("SHORTCUT_WEBHOOK_SECRET", "a-real-secret")
        .env("SLACK_DEPLOYS_URL", "https://hooks.slack.com/services/T0/B0/x")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).ends_with("ok (1 sources, 1 channels, 2 rules)\n"));
}
