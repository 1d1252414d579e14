//! Signature headers: any header value against any body, for every source kind.
#![no_main]

use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use storybridge::verify::verify;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // First line: the header value (and the Pivotal token); the rest: the body.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (header, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(value) = HeaderValue::from_bytes(header) else { return };
    let bridge = common::bridge();
    for (source, name) in [("shortcut", "payload-signature"), ("generic", "x-signature"), ("pivotal", "x-nothing")] {
        let mut headers = HeaderMap::new();
        headers.append(name, value.clone());
        headers.append(name, value.clone());
        let token = std::str::from_utf8(header).ok();
        let _ = verify(&bridge.config.sources[source], &headers, token, body.to_vec().into());
    }
});
