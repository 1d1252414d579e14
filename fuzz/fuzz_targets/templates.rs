//! Any text as template files (split at NUL: `card.hbs`, then `other.hbs`),
//! under a config whose rule renders `card` for Slack, Discord and the
//! console: through `Bridge::build`, as `check`, start and reload take them
//! (include cycles, sample renders). A template may be refused; nothing may
//! crash or recurse without end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storybridge::config::{load_str, ConfigOrigin};
use storybridge::Bridge;

const CONFIG: &str = r#"
templates: "."
sources:
  s: { kind: shortcut, allow_unsigned: true }
  p: { kind: pivotal, allow_unsigned: true }
  g: { kind: generic, allow_unsigned: true }
channels:
  out: { kind: console }
  slack: { kind: slack, url: "https://hooks.slack.com/services/T/B/x" }
  discord: { kind: discord, url: "https://discord.com/api/webhooks/1/x" }
rules:
  - { name: r, when: {}, send: [out, slack, discord], template: card }
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut files = text.splitn(2, '\0');
    let card = files.next().unwrap_or_default();
    let other = files.next().unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("storybridge-fuzz-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("card.hbs"), card).unwrap();
    std::fs::write(dir.join("other.hbs"), other).unwrap();
    let origin = ConfigOrigin { name: "fuzz.yaml".into(), base_dir: dir };
    let config = load_str(CONFIG, &origin, &|_| None).expect("the fixed config loads");
    let _ = Bridge::build(config, origin);
});
