//! A bridge with one source of each kind and a channel per platform, routing
//! everything: what the targets feed.

use std::sync::OnceLock;

use storybridge::config::{load_str, ConfigOrigin};
use storybridge::Bridge;

pub fn bridge() -> &'static Bridge {
    static BRIDGE: OnceLock<Bridge> = OnceLock::new();
    BRIDGE.get_or_init(|| {
        let yaml = r#"
sources:
  shortcut: { kind: shortcut, secrets: ["k", "previous"] }
  pivotal: { kind: pivotal, token: "t" }
  generic:
    kind: generic
    signature: { header: X-Signature, prefix: "sha256=" }
    secrets: ["k"]
    event_type: { header: X-Event }
    event_id: { pointer: /id }
  github: { kind: github, secrets: ["k"] }
  gitlab: { kind: gitlab, token: "t" }
  linear: { kind: linear, secrets: ["k"] }
  jira: { kind: jira, secrets: ["k"] }
channels:
  slack: { kind: slack, url: "https://hooks.slack.com/x" }
  discord: { kind: discord, url: "https://discord.com/x", mentions: true }
  console: { kind: console }
rules:
  - { name: all, when: {}, send: [slack, discord, console] }
  - { name: bursts, when: { primary: true }, send: [slack], coalesce: 30s }
"#;
        let origin = ConfigOrigin { name: "fuzz.yaml".into(), base_dir: ".".into() };
        Bridge::build(load_str(yaml, &origin, &|_| None).expect("fuzz config"), origin).expect("fuzz bridge")
    })
}
