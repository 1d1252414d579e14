//! The bridge on PostgreSQL (`storage: postgres://…`): the same pipeline,
//! its queue kept across restarts, and the database going away and coming
//! back while the bridge serves. Each test gets a database of its own on the
//! server `STORYBRIDGE_TEST_PG_URL` names (`.ci/run` sets it).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use storybridge::store::testing::fresh_postgres_database;
use storybridge::store::DeliveryStatus;

use crate::durability::{story_event, story_of};
use crate::support::app::{config_with, spawn_with_storage, TestApp};
use crate::support::cut_proxy::CutProxy;
use crate::support::process::free_address;
use crate::support::FakeSink;

pub(crate) const ALL_TO_SLACK: &str = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n";

pub(crate) async fn post(app: &TestApp, n: usize) -> reqwest::Response {
    app.post_shortcut(&story_event(n)).await
}

/// The three queued stories arrive in order, and event 2 sent again is a
/// duplicate: the queue and the dedupe key outlived the move.
pub(crate) async fn three_queued_arrive_and_a_repeat_is_a_duplicate(app: &TestApp, sink: &mut FakeSink) {
    let mut stories = Vec::new();
    for _ in 0..3 {
        stories.push(story_of(&sink.next().await.body));
    }
    assert_eq!(stories, ["story-1", "story-2", "story-3"]);
    let again = post(app, 2).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap(), json!({"status": "duplicate", "event_id": "event-2"}));
}

#[tokio::test]
async fn on_postgres_the_queue_outlives_the_bridge_and_a_repeated_event_is_a_duplicate() {
    let Some(database) = fresh_postgres_database() else { return };
    // Nothing listens at the sink's address yet: every message stays queued.
    let address = free_address();
    let app =
        spawn_with_storage(&format!("http://{address}"), &config_with(ALL_TO_SLACK), Some(&database)).await;
    for n in 1..=3 {
        assert_eq!(post(&app, n).await.status(), 202);
    }
    app.routed().await;
    // The first bridge tries, and fails, before it stops.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.deliveries().await.first().is_none_or(|delivery| delivery.failures == 0) {
        assert!(std::time::Instant::now() < deadline, "the first bridge never tried");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.stop().await;

    let mut sink = FakeSink::start_at(address).await;
    let app = spawn_with_storage(&sink.base(), &config_with(ALL_TO_SLACK), Some(&database)).await;
    three_queued_arrive_and_a_repeat_is_a_duplicate(&app, &mut sink).await;
    app.settled().await;
    assert!(sink.take_all().is_empty());
    let deliveries = app.deliveries().await;
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries.iter().all(|delivery| delivery.status == DeliveryStatus::Delivered));
    assert!(deliveries[0].failures >= 1, "the first bridge tried and failed: {:?}", deliveries[0]);
}

#[tokio::test]
async fn when_postgres_goes_away_ingest_answers_503_readyz_says_why_and_all_resumes_when_it_is_back() {
    let Some(database) = fresh_postgres_database() else { return };
    let mut url = url::Url::parse(&database).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = CutProxy::start(tokio::net::lookup_host(upstream).await.unwrap().next().unwrap()).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.address.port())).unwrap();
    let mut sink = FakeSink::start().await;
    let app = spawn_with_storage(&sink.base(), &config_with(ALL_TO_SLACK), Some(url.as_str())).await;
    assert_eq!(post(&app, 1).await.status(), 202);
    assert_eq!(story_of(&sink.next().await.body), "story-1");

    proxy.cut();
    let refused = post(&app, 2).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let reasons = ready.json::<Value>().await.unwrap()["reasons"].to_string();
    assert!(reasons.contains("store unreachable"), "{reasons}");

    proxy.restore();
    // The sender retries, as Retry-After asks; the pool makes new connections.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = post(&app, 2).await.status();
        if status == 202 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "still 503 after PostgreSQL came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(story_of(&sink.next().await.body), "story-2");
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 200);
    app.settled().await;
    assert!(sink.take_all().is_empty(), "a message sent twice");
}
