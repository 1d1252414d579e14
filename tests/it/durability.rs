//! Nothing lost: every accepted event's messages arrive, once, in order per
//! channel, through rate limits, outages, dead URLs and a SIGKILL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use storybridge::store::DeliveryStatus;
use storybridge::verify::sign_hex;

use crate::support::app::{config_with, spawn_with_storage, SHORTCUT_SECRET};
use crate::support::process::{
    config_file, free_address, start_bridge, storybridge, temp_dir, wait_until_serving,
};
use crate::support::{fixture, spawn_app, FakeSink, Reply};

const ALL_TO_SLACK: &str = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";
const ALL_TO_DISCORD: &str = "  - name: all\n    when: { primary: true }\n    send: [team]\n";

/// A signed-able Shortcut state change for story `n`, with its own event id.
pub(crate) fn story_event(n: usize) -> Vec<u8> {
    json!({
        "id": format!("event-{n}"), "primary_id": n, "changed_at": "2026-11-25T12:00:00Z",
        "actions": [{
            "id": n, "entity_type": "story", "action": "update", "name": format!("story-{n}"),
            "story_type": "feature", "app_url": format!("https://app.shortcut.com/acme/story/{n}"),
            "changes": {"workflow_state_id": {"old": 1, "new": 2}}
        }],
        "references": [
            {"id": 1, "entity_type": "workflow-state", "name": "Started"},
            {"id": 2, "entity_type": "workflow-state", "name": "Done"}
        ]
    })
    .to_string()
    .into_bytes()
}

pub(crate) fn story_of(body: &Value) -> String {
    let text = body["text"].as_str().unwrap_or_default();
    let start = text.find("story-").expect("a story name");
    text[start..].split(['>', '|', ' ']).next().unwrap().to_owned()
}

#[tokio::test]
async fn three_429s_hold_the_message_for_their_retry_after_and_it_arrives_once() {
    let mut sink = FakeSink::start().await;
    let limited = || Reply::new(429, r#"{"ok":false,"error":"rate_limited"}"#).header("retry-after", "1");
    sink.reply_next([limited(), limited(), limited()]);
    let app = spawn_app(&sink, ALL_TO_SLACK).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;

    let mut times = Vec::new();
    for _ in 0..4 {
        times.push(sink.next().await.at);
    }
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(1), "resent after {:?}", pair[1] - pair[0]);
    }
    app.settled().await;
    assert!(sink.take_all().is_empty(), "delivered once");
    let row = &app.deliveries().await[0];
    assert_eq!(
        (row.status, row.attempts, row.failures),
        (DeliveryStatus::Delivered, 4, 0),
        "429s are not failures"
    );
}

#[tokio::test]
async fn messages_queued_while_the_sink_is_down_all_arrive_in_order_when_it_is_back() {
    let address = free_address();
    let app = spawn_with_storage(&format!("http://{address}"), &config_with(ALL_TO_SLACK), None).await;
    for n in 1..=3 {
        let body = story_event(n);
        let response = app
            .http
            .post(app.url("/hooks/shortcut"))
            .header("payload-signature", sign_hex(SHORTCUT_SECRET, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    // The sink refuses connections for a while: a real outage, so a real wait.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut sink = FakeSink::start_at(address).await;

    let mut stories = Vec::new();
    for _ in 0..3 {
        stories.push(story_of(&sink.next().await.body));
    }
    assert_eq!(stories, ["story-1", "story-2", "story-3"]);
    app.settled().await;
    assert!(sink.take_all().is_empty());
    let first = &app.deliveries().await[0];
    assert!(first.failures >= 1, "the outage was seen: {first:?}");
    assert_eq!(first.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn a_repeated_event_id_is_answered_as_a_duplicate_and_sends_nothing_more() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, ALL_TO_SLACK).await;
    let body = fixture("shortcut/zulip_story_update_change_state.json");

    assert_eq!(app.post_shortcut(&body).await.status(), 202);
    let again = app.post_shortcut(&body).await;

    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        json!({"status": "duplicate", "event_id": "5b1fe334-1258-408e-85eb-8ecb6acdcc82"})
    );
    app.settled().await;
    assert_eq!(sink.take_all().len(), 1);
    assert_eq!(app.deliveries().await.len(), 1);
}

#[tokio::test]
async fn a_discord_404_kills_the_message_and_pauses_the_channel_until_its_url_changes() {
    let dir = temp_dir("discord-404");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(404, r#"{"message": "Unknown Webhook", "code": 10015}"#)]);
    let app = spawn_with_storage(&sink.base(), &config_with(ALL_TO_DISCORD), Some(&storage)).await;

    app.post_shortcut(&story_event(1)).await;
    app.post_shortcut(&story_event(2)).await;
    assert_eq!(sink.next().await.path, "/discord/team");
    // Give the worker time to (wrongly) try the next message: two idle polls.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert!(sink.take_all().is_empty(), "a paused channel sends nothing");
    let rows = app.deliveries().await;
    assert_eq!(
        rows.iter().map(|d| d.status).collect::<Vec<_>>(),
        [DeliveryStatus::Dead, DeliveryStatus::Pending]
    );
    app.stop().await;

    // The admin fixes the URL; the held message goes to the new one.
    let fixed = config_with(ALL_TO_DISCORD).replace("${DISCORD_TEAM_URL}", &sink.url("/discord/new-webhook"));
    let app = spawn_with_storage(&sink.base(), &fixed, Some(&storage)).await;
    let delivered = sink.next().await;
    assert_eq!(delivered.path, "/discord/new-webhook");
    assert_eq!(delivered.body["embeds"][0]["title"], "story-2");
    app.settled().await;
}

#[tokio::test]
async fn a_dead_message_shows_in_the_cli_and_replay_delivers_it_while_the_server_runs() {
    let dir = temp_dir("replay");
    let storage = format!("sqlite://{}", dir.join("bridge.db").display());
    let config = dir.join("bridge.yaml");
    std::fs::write(&config, config_with(ALL_TO_SLACK)).unwrap();
    let mut sink = FakeSink::start().await;
    sink.reply_next([Reply::new(404, "no_service")]);
    let app = spawn_with_storage(&sink.base(), &config_with(ALL_TO_SLACK), Some(&storage)).await;

    app.post_shortcut(&story_event(7)).await;
    sink.next().await;
    app.settled().await;

    let listed = storybridge(&config, &["deliveries", "--status", "dead"], &sink.base(), &storage);
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert_eq!(table.lines().count(), 2, "a header and one row:\n{table}");
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.contains("dead") && row.contains("deploys") && row.contains("404") && row.contains("no_service"),
        "{row}"
    );

    let replayed = storybridge(&config, &["replay", "--dead"], &sink.base(), &storage);
    assert_eq!(String::from_utf8_lossy(&replayed.stdout).trim(), "queued 1 message(s) again");
    let asked = Instant::now();
    let resent = sink.next().await;
    assert!(asked.elapsed() < Duration::from_secs(3), "picked up after {:?}", asked.elapsed());
    assert_eq!(story_of(&resent.body), "story-7");
    app.settled().await;
    let row = &app.deliveries().await[0];
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Delivered, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_event_survives_a_sigkill_right_after_its_2xx() {
    let dir = temp_dir("sigkill");
    let mut sink = FakeSink::start().await;
    let rate = "rate_limit: { per_second: 50, burst: 1 }";
    let config = config_file(&dir, "", &sink.url("/slack/deploys"), rate);
    let address = free_address();
    let mut bridge = start_bridge(&config, address);
    wait_until_serving(address).await;

    let client = reqwest::Client::new();
    let posts: Vec<_> = (1..=200)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let body = story_event(n);
                let signature = sign_hex(SHORTCUT_SECRET, &body);
                let response = client
                    .post(format!("http://{address}/hooks/shortcut"))
                    .header("payload-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                response.status().as_u16()
            })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), 202);
    }
    bridge.kill().unwrap(); // SIGKILL: no shutdown, no draining.
    bridge.wait().unwrap();
    let before_kill = sink.take_all();
    // At 50 a second the channel cannot have caught up: the kill left messages queued.
    assert!(before_kill.len() < 200, "all {} were delivered before the kill", before_kill.len());
    eprintln!("delivered before SIGKILL: {}", before_kill.len());

    let mut bridge = start_bridge(&config, address);
    wait_until_serving(address).await;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for request in &before_kill {
        *seen.entry(story_of(&request.body)).or_default() += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < 200 {
        assert!(Instant::now() < deadline, "only {} of 200 arrived", seen.len());
        *seen.entry(story_of(&sink.next().await.body)).or_default() += 1;
    }
    bridge.kill().unwrap();
    bridge.wait().unwrap();
    let duplicates: usize = seen.values().map(|count| count - 1).sum::<usize>() + sink.take_all().len();
    // A channel records its attempts a batch (32) at a time: at most one
    // batch was sent but not yet recorded when the process died.
    assert!(duplicates <= 32, "{duplicates} duplicates");
    eprintln!("duplicates after SIGKILL: {duplicates}");
}
