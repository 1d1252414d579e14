//! Several replicas on one PostgreSQL database, as the real binary: any of
//! them accepts any webhook, one at a time routes and one at a time sends a
//! channel's messages (leases), and a replica killed half-way gives its work
//! back when its leases lapse.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use storybridge::store::testing::fresh_postgres_database;
use storybridge::verify::sign_hex;

use crate::durability::{story_event, story_of};
use crate::support::app::SHORTCUT_SECRET;
use crate::support::process::{config_file, free_address, start_bridge, temp_dir, wait_until_serving};
use crate::support::FakeSink;

#[tokio::test]
async fn three_replicas_one_killed_half_way_deliver_every_acknowledged_event_in_order() {
    let Some(database) = fresh_postgres_database() else { return };
    let dir = temp_dir("replicas");
    let mut sink = FakeSink::start().await;
    // Slow enough that the kill leaves messages queued and a batch in flight.
    let rate = "rate_limit: { per_second: 100, burst: 5 }";
    let config = config_file(&dir, "", &sink.url("/slack/deploys"), rate);
    let yaml = std::fs::read_to_string(&config).unwrap().replace("sqlite://bridge.db", &database);
    std::fs::write(&config, yaml).unwrap();
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let address = free_address();
        replicas.push((start_bridge(&config, address), address));
        wait_until_serving(address).await;
    }

    let client = reqwest::Client::new();
    let mut arrivals: Vec<usize> = Vec::new();
    let number = |got: &crate::support::fake_sink::Received| -> usize {
        story_of(&got.body).trim_start_matches("story-").parse().unwrap()
    };
    for n in 1..=500 {
        if n == 251 {
            let (mut victim, _) = replicas.remove(0);
            victim.kill().unwrap(); // SIGKILL: it drains nothing and lets go of nothing.
            victim.wait().unwrap();
            arrivals.extend(sink.take_all().iter().map(number));
        }
        let (_, address) = &replicas[n % replicas.len()];
        let body = story_event(n);
        let response = client
            .post(format!("http://{address}/hooks/shortcut"))
            .header("payload-signature", sign_hex(SHORTCUT_SECRET, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "event {n}");
    }
    eprintln!("delivered before the kill: {}", arrivals.len());

    // The dead replica's leases lapse within ten seconds; then the rest comes.
    let mut seen: HashSet<usize> = arrivals.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 500 {
        assert!(Instant::now() < deadline, "only {} of 500 arrived", seen.len());
        let Some(got) = sink.next_within(Duration::from_secs(30)).await else {
            panic!("nothing arrived for 30 s; {} of 500 so far", seen.len())
        };
        arrivals.push(number(&got));
        seen.insert(number(&got));
    }
    // Late duplicates, if any, come within a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    arrivals.extend(sink.take_all().iter().map(number));
    for (mut replica, _) in replicas {
        replica.kill().unwrap();
        replica.wait().unwrap();
    }
    let mut firsts = Vec::new();
    let mut first_seen = HashSet::new();
    for n in &arrivals {
        if first_seen.insert(*n) {
            firsts.push(*n);
        }
    }
    assert_eq!(firsts, (1..=500).collect::<Vec<_>>(), "first arrivals out of acceptance order");
    let duplicates = arrivals.len() - 500;
    let again: Vec<usize> = {
        let mut once = HashSet::new();
        arrivals.iter().copied().filter(|n| !once.insert(*n)).collect()
    };
    eprintln!("duplicates after the kill: {duplicates} {again:?}");
    // The dead replica's claimed batch at most (the worker claims 32).
    assert!(duplicates <= 32, "{duplicates} duplicates");
}
