//! Any bytes as a form-encoded body (`payload=<json>`) through the generic source.
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
    let Ok(payload) = decode(&verified, BodyFormat::Form) else { return };
    let config = &bridge.config.sources["generic"];
    if let Ok(Normalized::Event(event)) = normalize("generic", config, &HeaderMap::new(), &verified, payload) {
        let _ = route(bridge, &event);
    }
});
