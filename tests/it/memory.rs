//! Memory stays bounded whatever many senders do at once: the real binary's
//! peak RSS while a thousand connections push large bodies and huge headers.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::app::SHORTCUT_SECRET;
use crate::support::process::{
    config_file, free_address, memory_mib, start_bridge, temp_dir, wait_until_serving,
};
use crate::support::{fixture, FakeSink};
use storybridge::verify::sign_hex;

/// With the connection cap and the body budget lifted (through
/// `STORYBRIDGE_MAX_CONNECTIONS` and `STORYBRIDGE_MAX_BODY_BYTES_IN_FLIGHT`),
/// this test read 365 MiB; before any of the limits, 1,000 such bodies took the
/// release build to 993 MiB.
const PEAK_LIMIT_MIB: f64 = 96.0;

/// Sends a request head, then as much of `body` as the connection takes
/// without waiting, and leaves the connection open.
async fn push(address: std::net::SocketAddr, head: String, body: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut sent = 0;
    while sent < body.len() {
        match stream.try_write(&body[sent..]) {
            Ok(written) => sent += written,
            Err(_) => break, // The server is not reading: that is the point.
        }
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_of_large_bodies_and_huge_headers_leave_memory_bounded() {
    let dir = temp_dir("memory");
    let sink = FakeSink::start().await;
    let config = config_file(&dir, "body_timeout: 3s", &sink.url("/slack/deploys"), "");
    let address = free_address();
    let mut bridge = start_bridge(&config, address);
    wait_until_serving(address).await;
    let idle = memory_mib(&bridge, "VmRSS");

    // 700 bodies just under the default 1 MiB limit, and 300 request heads of
    // 300 KB that never end: fewer than the listener's accept queue holds.
    let body = [b"{".as_slice(), &vec![b' '; 1_000_000]].concat();
    let mut held = Vec::new();
    for _ in 0..700 {
        let head = format!(
            "POST /hooks/shortcut HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n\
             Payload-Signature: {}\r\nContent-Length: {}\r\n\r\n",
            "0".repeat(64),
            body.len()
        );
        held.push(push(address, head, &body).await);
    }
    let padding = vec![b'a'; 300_000];
    for _ in 0..300 {
        let head = "POST /hooks/shortcut HTTP/1.1\r\nHost: bridge\r\nX-Padding: ".to_owned();
        held.push(push(address, head, &padding).await);
    }
    // Let the server take in what it will.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let peak = memory_mib(&bridge, "VmHWM");
    eprintln!("RSS idle {idle:.1} MiB, peak under the flood {peak:.1} MiB");
    assert!(peak < PEAK_LIMIT_MIB, "peak RSS {peak:.1} MiB (idle {idle:.1} MiB)");

    // The flood gone, the next sender is served as usual.
    drop(held);
    let event = fixture("shortcut/zulip_story_update_change_state.json");
    let response = reqwest::Client::new()
        .post(format!("http://{address}/hooks/shortcut"))
        .header("payload-signature", sign_hex(SHORTCUT_SECRET, &event))
        .body(event)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    bridge.kill().unwrap();
    bridge.wait().unwrap();
}
