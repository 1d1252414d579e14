//! What a hostile sender or a clumsy admin does, and what each now gets: a
//! clear error, the old config kept, nothing lost, the process still serving.

use std::time::Duration;

use serde_json::json;

use crate::support::app::{config_with, spawn, spawn_with_template, Options};
use crate::support::process::temp_dir;
use crate::support::{fixture, FakeSink};

#[tokio::test]
async fn a_template_that_includes_itself_is_refused_by_check_and_by_reload() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("include-cycle");
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n    template: card\n";
    let app = spawn_with_template(&sink.base(), &dir, "card.hbs", "card: {{name}}", rules).await;

    std::fs::write(dir.join("templates/card.hbs"), "{{#if name}}{{> card}}{{/if}}").unwrap();
    app.wait_for_reloads("failure", 1.0).await;
    let checked = crate::support::process::storybridge(
        &dir.join("bridge.yaml"),
        &["check"],
        &sink.base(),
        "sqlite::memory:",
    );
    assert_eq!(checked.status.code(), Some(1));
    let said = String::from_utf8_lossy(&checked.stderr);
    assert!(said.contains("templates: ") && said.contains("card.hbs: `card` includes itself"), "{said}");

    // The process still serves, on the old template.
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(sink.next().await.body, json!({"text": "card: Add cool feature!"}));
}

#[tokio::test]
async fn an_emptied_config_file_is_refused_and_the_old_config_keeps_serving() {
    let mut sink = FakeSink::start().await;
    let dir = temp_dir("empty-config");
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
    let app = spawn(
        &sink.base(),
        &config_with(rules),
        Options { config_file: Some(dir.join("bridge.yaml")), ..Default::default() },
    )
    .await;

    std::fs::write(dir.join("bridge.yaml"), "# everything commented out\n").unwrap();
    app.wait_for_reloads("failure", 1.0).await;

    let answer = app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(answer.status(), 202, "the webhook is still served");
    assert!(sink.next().await.body["text"].as_str().unwrap().contains("Add cool feature!"));
    assert_eq!(app.reloads("success").await, 0.0);
}

#[tokio::test]
async fn an_empty_or_blank_event_id_is_no_id_and_never_makes_later_events_duplicates() {
    let mut sink = FakeSink::start().await;
    let rules = "  - name: all\n    when: {}\n    send: [deploys]\n";
    let yaml = config_with(rules).replace(
        "event_type: { header: X-Clubmed-Event }",
        "event_type: { header: X-Clubmed-Event }\n    event_id: { header: X-Clubmed-Delivery }",
    );
    let app = spawn(&sink.base(), &yaml, Options::default()).await;

    for (n, id) in ["", "   "].iter().enumerate() {
        let body = json!({"id": id, "primary_id": n, "actions": [{"id": n, "entity_type": "story", "action": "update", "name": format!("story-{n}")}]});
        let answer = app.post_shortcut(body.to_string().as_bytes()).await;
        assert_eq!(answer.status(), 202, "shortcut id {id:?}");
    }
    for n in 0..2 {
        let body =
            json!({"entity_type": "story", "action": "update", "id": n, "name": format!("generic-{n}")})
                .to_string();
        let answer = app
            .http
            .post(app.url("/hooks/clubmed"))
            .header("content-type", "application/json")
            .header("x-clubmed-event", "story")
            .header("x-clubmed-delivery", "")
            .header(
                "x-clubmed-signature",
                format!("sha256={}", crate::support::app::sign_clubmed(body.as_bytes())),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202, "generic event {n} with an empty delivery id");
    }
    app.settled().await;
    assert_eq!(sink.take_all().len(), 4, "every event was delivered");
}

#[tokio::test]
async fn while_attempts_cannot_be_recorded_delivery_waits_instead_of_sending_the_batch_again() {
    use std::sync::atomic::Ordering;
    let mut sink = FakeSink::start().await;
    let flaky = crate::support::flaky_store::FlakyStore::new(
        storybridge::store::open("sqlite::memory:", ".".as_ref()).unwrap(),
    );
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
    let options = Options { store: Some(flaky.clone()), ..Default::default() };
    let app = spawn(&sink.base(), &config_with(rules), options).await;

    // The disk fills: events are still accepted (in this simulation), attempts cannot be recorded.
    flaky.full.store(true, Ordering::SeqCst);
    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let during = sink.take_all();
    assert!(
        !during.is_empty() && during.len() <= 2,
        "one batch at most during the outage, got {} posts",
        during.len()
    );

    flaky.full.store(false, Ordering::SeqCst);
    app.settled().await;
    let after = sink.take_all();
    assert_eq!(during.len() + after.len(), 2, "each message sent once: {} + {}", during.len(), after.len());
    let rows = app.deliveries().await;
    let shown: Vec<_> = rows.iter().map(|row| (row.status, row.attempts)).collect();
    assert!(
        shown
            .iter()
            .all(|(status, attempts)| *status == storybridge::store::DeliveryStatus::Delivered
                && *attempts == 1),
        "{shown:?}"
    );
}

#[tokio::test]
async fn a_second_bridge_on_the_same_store_is_refused_while_the_cli_still_works_beside_the_first() {
    use crate::support::process::{config_file, free_address, start_bridge, wait_until_serving};
    let dir = temp_dir("second-bridge");
    let config = config_file(&dir, "", "http://127.0.0.1:9/unused", "");
    let first_address = free_address();
    let mut first = start_bridge(&config, first_address);
    wait_until_serving(first_address).await;

    let second = std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("STORYBRIDGE_LISTEN", free_address().to_string())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(said.contains("is served by another storybridge already"), "{said}");

    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["deliveries", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    first.kill().unwrap();
    first.wait().unwrap();

    // Killed, the first lets go of the store: the next start serves.
    let mut third = start_bridge(&config, first_address);
    wait_until_serving(first_address).await;
    third.kill().unwrap();
    third.wait().unwrap();
}

#[tokio::test]
async fn a_link_that_is_not_an_absolute_web_url_becomes_plain_text_and_the_message_still_goes_out() {
    let mut sink = FakeSink::start().await;
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys, team]\n";
    let app = spawn(&sink.base(), &config_with(rules), Options::default()).await;

    for (n, url) in ["javascript:alert(1)", "ftp://files.example/s/1", "/story/1"].iter().enumerate() {
        let body = json!({"id": format!("link-{n}"), "primary_id": n, "actions": [{
            "id": n, "entity_type": "story", "action": "update", "name": format!("story-{n}"),
            "story_type": "feature", "app_url": url, "changes": {"estimate": {"old": 1, "new": 2}}}]});
        assert_eq!(app.post_shortcut(body.to_string().as_bytes()).await.status(), 202);
    }
    app.settled().await;
    let received = sink.take_all();
    assert_eq!(received.len(), 6, "every message delivered");
    for message in received {
        let text = message.body.to_string();
        assert!(
            !text.contains("javascript:") && !text.contains("ftp://") && !text.contains("/story/1"),
            "{text}"
        );
        if message.path.starts_with("/discord") {
            assert!(message.body["embeds"][0].get("url").is_none_or(|url| url.is_null()), "{text}");
            assert!(message.body["embeds"][0]["title"].as_str().unwrap().starts_with("story-"), "{text}");
        }
    }
}

#[tokio::test]
async fn the_bundled_development_secrets_are_refused_on_a_public_address_naming_the_variables() {
    use crate::support::process::{free_address, wait_until_serving};
    let dir = temp_dir("public-dev-secrets");
    let bundled = |listen: String| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"));
        command.current_dir(&dir).env("STORYBRIDGE_LISTEN", listen).env("RUST_LOG", "warn");
        for name in [
            "SHORTCUT_WEBHOOK_SECRET",
            "PIVOTAL_WEBHOOK_TOKEN",
            "GITHUB_WEBHOOK_SECRET",
            "STORYBRIDGE_CONFIG",
        ] {
            command.env_remove(name);
        }
        command
    };
    let public = format!("0.0.0.0:{}", free_address().port());
    let refused = bundled(public.clone()).env("PIVOTAL_WEBHOOK_TOKEN", "").output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!(
            "refusing to listen on {public} with the bundled development secrets: \
             set SHORTCUT_WEBHOOK_SECRET, PIVOTAL_WEBHOOK_TOKEN, GITHUB_WEBHOOK_SECRET"
        )),
        "{said}"
    );

    // On loopback the same defaults serve: the quick start.
    let local = free_address();
    let mut child = bundled(local.to_string()).stdout(std::process::Stdio::null()).spawn().unwrap();
    wait_until_serving(local).await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_store_file_deleted_under_the_running_bridge_gets_503_not_a_2xx_it_would_lose() {
    let sink = FakeSink::start().await;
    let dir = temp_dir("deleted-store");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
    let app =
        crate::support::app::spawn_with_storage(&sink.base(), &config_with(rules), Some(&storage)).await;
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 200);

    for file in ["bridge.db", "bridge.db-wal", "bridge.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }

    let answer = app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(answer.status(), 503, "an event it could not keep");
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let reasons = ready.json::<serde_json::Value>().await.unwrap()["reasons"].to_string();
    assert!(reasons.contains("bridge.db is gone"), "{reasons}");
}

#[tokio::test]
async fn admin_commands_on_a_store_that_does_not_exist_or_a_delivery_that_does_not_exist_exit_1() {
    let dir = temp_dir("no-store");
    let config = crate::support::process::config_file(&dir, "", "http://127.0.0.1:9/unused", "");
    let run = |arguments: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"))
            .args(arguments)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    for command in [&["deliveries"][..], &["replay", "--dead"], &["reroute", "--since", "1h"]] {
        let output = run(command);
        let said = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{command:?}: {said}");
        assert!(
            said.contains("storage: there is no store at") && said.contains("bridge.db"),
            "{command:?}: {said}"
        );
    }
    assert!(!dir.join("bridge.db").exists(), "no empty store was made");

    // With a store there, a delivery id that is none is an error too.
    drop(storybridge::store::open("sqlite://bridge.db", &dir).unwrap());
    let output = run(&["replay", "999"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "queued 0 message(s) again\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("1 of the 1 id(s) given are no delivery"));
}

#[tokio::test]
async fn a_bad_storybridge_override_is_blamed_on_its_variable_not_on_the_file() {
    let dir = temp_dir("env-override");
    let config = crate::support::process::config_file(&dir, "", "http://127.0.0.1:9/unused", "");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_storybridge"))
        .args(["check", "--config"])
        .arg(&config)
        .env("STORYBRIDGE_MAX_AGE", "forever")
        .env("STORYBRIDGE_RETENTION", "0s")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let file = config.display().to_string();
    assert!(
        said.starts_with(&format!("STORYBRIDGE_MAX_AGE (environment, overriding {file}): max_age: ")),
        "{said}"
    );
}
