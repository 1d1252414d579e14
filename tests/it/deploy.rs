//! The deployment files (Dockerfile, deploy/) agree with the code and with each
//! other: no Docker engine runs on the development machines, so what `docker
//! compose up` would find wrong is checked here from the files.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_yaml::Value;
use storybridge::store::testing::fresh_postgres_database;
use storybridge::verify::sign_hex;

use crate::durability::{story_event, story_of};
use crate::support::app::SHORTCUT_SECRET;
use crate::support::process::{config_file, free_address, start_bridge, temp_dir, wait_until_serving};
use crate::support::FakeSink;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `${NAME:?message}` → the value a user would set for NAME.
fn substituted(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("an unclosed ${") + start;
        let name = rest[start + 2..end].split([':', '-', '?']).next().unwrap();
        out.push_str(match name {
            "SLACK_DEPLOYS_URL" => "https://hooks.slack.com/services/T0/B0/x",
            _ => "a-real-secret",
        });
        rest = &rest[end + 1..];
    }
    out + rest
}

fn string<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    let mut at = value;
    for key in path {
        at = &at[*key];
    }
    at.as_str().unwrap_or_else(|| panic!("{} is not a string: {at:?}", path.join(".")))
}

#[test]
fn compose_runs_two_replicas_of_one_config_on_its_postgresql_behind_the_proxy() {
    let compose: Value =
        serde_yaml::from_str(&std::fs::read_to_string(root().join("deploy/docker-compose.yml")).unwrap())
            .unwrap();
    let services = compose["services"].as_mapping().unwrap();
    let replicas: Vec<(&str, &Value)> = services
        .iter()
        .filter(|(_, service)| service["image"].as_str() == Some("storybridge:latest"))
        .map(|(name, service)| (name.as_str().unwrap(), service))
        .collect();
    assert_eq!(replicas.len(), 2, "two replicas of storybridge");
    assert_eq!(replicas[0].1, replicas[1].1, "the replicas differ: they must run the same config");
    let bridge = replicas[0].1;
    assert!(
        bridge["volumes"]
            .as_sequence()
            .unwrap()
            .contains(&Value::from("./bridge.yaml:/etc/storybridge/bridge.yaml:ro")),
        "the replicas serve deploy/bridge.yaml"
    );
    assert_eq!(string(bridge, &["depends_on", "postgres", "condition"]), "service_healthy");

    // The store URL names the database and user the postgres service creates.
    let storage = string(bridge, &["environment", "STORYBRIDGE_STORAGE"]);
    let postgres = &services["postgres"];
    let user = string(postgres, &["environment", "POSTGRES_USER"]);
    let database = string(postgres, &["environment", "POSTGRES_DB"]);
    assert!(
        storage.starts_with(&format!("postgres://{user}@postgres:5432/{database}")),
        "{storage} is not the postgres service's database"
    );
    assert_eq!(
        string(bridge, &["environment", "PGPASSWORD"]),
        string(postgres, &["environment", "POSTGRES_PASSWORD"]),
        "the replicas log in with the password the database is created with"
    );

    // With the compose file's environment, the bridge takes deploy/bridge.yaml and
    // the storage URL (check reads both the way serve does).
    let mut check = Command::new(env!("CARGO_BIN_EXE_storybridge"));
    check.args(["check", "--config"]).arg(root().join("deploy/bridge.yaml")).env_clear();
    for (name, value) in bridge["environment"].as_mapping().unwrap() {
        check.env(name.as_str().unwrap(), substituted(value.as_str().unwrap()));
    }
    let output = check.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    // The proxy publishes 8080 and balances over exactly these replicas, on the
    // port the image listens on.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("STORYBRIDGE_LISTEN=0.0.0.0:8080"));
    assert_eq!(services["proxy"]["ports"][0].as_str(), Some("8080:8080"));
    let nginx = std::fs::read_to_string(root().join("deploy/nginx.conf")).unwrap();
    let upstream =
        nginx.split("upstream storybridge {").nth(1).and_then(|rest| rest.split('}').next()).unwrap();
    let upstreams: Vec<&str> = upstream
        .lines()
        .filter_map(|line| line.trim().strip_prefix("server "))
        .map(|server| server.split_whitespace().next().unwrap())
        .collect();
    let expected: Vec<String> = replicas.iter().map(|(name, _)| format!("{name}:8080")).collect();
    assert_eq!(upstreams, expected);
    assert!(nginx.contains("non_idempotent"), "a webhook POST goes to the other replica when one is down");
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

/// nginx, as `.ci/run` installs it; under CI=true its absence fails the test.
fn nginx() -> Option<std::path::PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|path| path.exists());
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |ci| ci != "true"),
            "CI=true but nginx is not installed: the compose file's proxy cannot be tested"
        );
        eprintln!("note: nginx is not installed; deploy/nginx.conf is not run in this run");
    }
    found
}

/// nginx's master, stopped with SIGTERM (a SIGKILL would leave its workers
/// serving, and holding the test's output open) even when the test fails.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_compose_proxy_takes_every_webhook_while_one_replica_is_killed() {
    let Some(database) = fresh_postgres_database() else { return };
    let Some(nginx) = nginx() else { return };
    let dir = temp_dir("compose-proxy");
    let mut sink = FakeSink::start().await;
    let config = config_file(&dir, "", &sink.url("/slack/deploys"), "");
    let yaml = std::fs::read_to_string(&config).unwrap().replace("sqlite://bridge.db", &database);
    std::fs::write(&config, yaml).unwrap();
    let addresses = [free_address(), free_address()];
    let mut replicas = Replicas(addresses.iter().map(|address| start_bridge(&config, *address)).collect());
    for address in addresses {
        wait_until_serving(address).await;
    }

    // deploy/nginx.conf as shipped, but for the compose network's names and a
    // port and paths a test may take.
    let listen = free_address();
    let shipped = std::fs::read_to_string(root().join("deploy/nginx.conf")).unwrap();
    let temp = |name: &str| dir.join(name).display().to_string();
    let conf = shipped
        .replace("storybridge-1:8080", &addresses[0].to_string())
        .replace("storybridge-2:8080", &addresses[1].to_string())
        .replace("listen 8080;", &format!("listen {listen};"))
        .replacen(
            "http {",
            &format!(
                "http {{\n    client_body_temp_path {};\n    proxy_temp_path {};\n    fastcgi_temp_path {};\n    \
                 uwsgi_temp_path {};\n    scgi_temp_path {};",
                temp("body"),
                temp("proxy"),
                temp("fastcgi"),
                temp("uwsgi"),
                temp("scgi")
            ),
            1,
        );
    assert_ne!(conf, shipped);
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let _proxy = Nginx(
        std::process::Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", &format!("daemon off; pid {};", temp("nginx.pid"))])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while client.get(format!("http://{listen}/healthz")).send().await.is_err() {
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "nginx did not start: {log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let post = |n: usize| {
        let body = story_event(n);
        client
            .post(format!("http://{listen}/hooks/shortcut"))
            .header("payload-signature", sign_hex(SHORTCUT_SECRET, &body))
            .body(body)
            .send()
    };
    for n in 1..=4 {
        assert_eq!(post(n).await.unwrap().status(), 202, "event {n}, both replicas up");
    }
    replicas.0[0].kill().unwrap(); // SIGKILL: its port refuses from now on.
    replicas.0[0].wait().unwrap();
    for n in 5..=12 {
        assert_eq!(post(n).await.unwrap().status(), 202, "event {n}, one replica killed");
    }
    assert_eq!(post(7).await.unwrap().status(), 200, "a repeat is still a duplicate");

    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 12 {
        let Some(got) = sink.next_within(Duration::from_secs(30)).await else {
            panic!("only {seen:?} arrived");
        };
        seen.insert(story_of(&got.body));
    }
}

/// The replicas, killed when the test ends, whether or not it passed (one
/// left serving would hold its database open).
struct Replicas(Vec<std::process::Child>);

impl Drop for Replicas {
    fn drop(&mut self) {
        for replica in &mut self.0 {
            let _ = replica.kill();
            let _ = replica.wait();
        }
    }
}
