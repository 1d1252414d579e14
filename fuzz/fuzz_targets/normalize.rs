//! Any bytes as a JSON body through every normalizer, then routing and
//! rendering for Slack, Discord and the console, with the platform limits.
#![no_main]

use axum::http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use storybridge::normalize::{decode, normalize, BodyFormat, Normalized};
use storybridge::pipeline::route;
use storybridge::verify::Verified;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let bridge = common::bridge();
    let verified = Verified::local_file(data.to_vec().into());
    let Ok(payload) = decode(&verified, BodyFormat::Json) else { return };
    let mut headers = HeaderMap::new();
    headers.insert("x-event", "story".parse().unwrap());
    // GitHub reads its event's name from a header: the first byte picks one.
    let github_event = ["issues", "pull_request", "issue_comment", "push", "release"][usize::from(data.first().copied().unwrap_or(0)) % 5];
    headers.insert("x-github-event", github_event.parse().unwrap());
    for source in ["shortcut", "pivotal", "generic", "github", "gitlab", "linear", "jira"] {
        let config = &bridge.config.sources[source];
        if let Ok(Normalized::Event(event)) = normalize(source, config, &headers, &verified, payload.clone()) {
            let _ = route(bridge, &event);
        }
    }
});
