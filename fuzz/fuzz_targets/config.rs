//! Any text as bridge.yaml: loaded, checked and compiled, or refused with errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::Bridge;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = ConfigOrigin { name: "fuzz.yaml".into(), base_dir: "/nonexistent".into() };
    let lookup = |name: &str| (name == "SET").then(|| "value".to_owned());
    if let Ok(config) = load_str(text, &origin, &lookup) {
        let _ = Bridge::build(config, origin);
    }
});
