//! The real binary as a child process, for what only a process shows: a
//! SIGKILL, its memory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("storybridge-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nothing listens on now.
pub fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A config for the real binary: its store in a file beside the config, one
/// Shortcut source, one Slack channel at `slack_url` (with `channel` settings
/// added, e.g. `rate_limit: …`) and a rule sending every primary change there;
/// `top` adds top-level keys.
pub fn config_file(dir: &Path, top: &str, slack_url: &str, channel: &str) -> PathBuf {
    let secret = super::app::SHORTCUT_SECRET;
    let path = dir.join("bridge.yaml");
    let yaml = format!(
        r#"
storage: "sqlite://bridge.db"
{top}
sources:
  shortcut: {{ kind: shortcut, secrets: ["{secret}"] }}
channels:
  deploys: {{ kind: slack, url: "{slack_url}", {channel} }}
rules:
  - {{ name: all, when: {{ primary: true }}, send: [deploys] }}
"#
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The real binary, as a child process, on `address`.
pub fn start_bridge(config: &Path, address: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["serve", "--config"])
        .arg(config)
        .env("STORYBRIDGE_LISTEN", address.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub async fn wait_until_serving(address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = reqwest::Client::new();
    while client.get(format!("http://{address}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the bridge did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A field of `/proc/<pid>/status` in MiB: `VmRSS` now, `VmHWM` at its peak.
pub fn memory_mib(child: &Child, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

/// Runs the `storybridge` CLI with `arguments` on `config`, with the test
/// config's variables (chat URLs under `sink_base`, the store at `storage`).
pub fn storybridge(
    config: &Path,
    arguments: &[&str],
    sink_base: &str,
    storage: &str,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_storybridge"));
    command.args(arguments).arg("--config").arg(config);
    for (name, value) in super::app::variables(sink_base, Some(storage)) {
        command.env(name, value);
    }
    command.output().unwrap()
}
