//! Every way a signature or token can be wrong gets 401 and queues nothing;
//! every way it can be right (rotation, legacy headers, hex case) gets through.

use serde_json::{json, Value};
use storybridge::verify::sign_hex;

use crate::support::app::{sign_clubmed, OLD_SHORTCUT_SECRET, PIVOTAL_TOKEN, SHORTCUT_SECRET};
use crate::support::{fixture, spawn_app, FakeSink, TestApp};

/// A case: what it shows, the headers sent, the status expected.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, u16);

const STATE_CHANGE: &str = "shortcut/zulip_story_update_change_state.json";

async fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut request = app.http.post(app.url(path)).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body.to_vec()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn shortcut_signatures_are_checked_on_the_raw_body() {
    let sink = FakeSink::start().await;
    let app =
        spawn_app(&sink, "  - name: none\n    when: { entity_type: nothing }\n    send: [deploys]\n").await;
    let body = fixture(STATE_CHANGE);
    let good = sign_hex(SHORTCUT_SECRET, &body);
    let cases: Vec<Case> = vec![
        ("no signature header", vec![], 401),
        ("signed with an unknown secret", vec![("payload-signature", sign_hex("guess", &body))], 401),
        ("signature of a different body", vec![("payload-signature", sign_hex(SHORTCUT_SECRET, b"{}"))], 401),
        ("not hex", vec![("payload-signature", "z".repeat(64))], 401),
        ("truncated", vec![("payload-signature", good[..62].to_owned())], 401),
        ("empty", vec![("payload-signature", String::new())], 401),
        ("the signature in the wrong header", vec![("x-signature", good.clone())], 401),
        ("valid", vec![("payload-signature", good.clone())], 202),
        ("valid, upper-case hex", vec![("payload-signature", good.to_uppercase())], 202),
        ("valid, legacy Clubhouse-Signature", vec![("clubhouse-signature", good.clone())], 202),
        ("valid, Shortcut-Signature", vec![("shortcut-signature", good.clone())], 202),
        (
            "valid under the previous secret",
            vec![("payload-signature", sign_hex(OLD_SHORTCUT_SECRET, &body))],
            202,
        ),
        ("valid with surrounding whitespace", vec![("payload-signature", format!(" {good} "))], 202),
    ];
    for (case, headers, expected) in cases {
        let (status, answer) = post(&app, "/hooks/shortcut", &headers, &body).await;
        // The same body is posted each time: after the first it is a duplicate (200).
        let status = if status == 200 && answer["status"] == "duplicate" { 202 } else { status };
        assert_eq!(status, expected, "{case}");
        if expected == 401 {
            assert_eq!(answer, json!({"error": "invalid or missing signature"}), "{case}");
        }
    }
}

#[tokio::test]
async fn generic_signatures_take_the_configured_header_and_prefix() {
    let sink = FakeSink::start().await;
    let app =
        spawn_app(&sink, "  - name: none\n    when: { entity_type: nothing }\n    send: [deploys]\n").await;
    let body = br#"{"id": 1, "name": "x"}"#;
    let good = sign_clubmed(body);
    let cases: Vec<Case> = vec![
        ("prefixed", vec![("x-clubmed-signature", format!("sha256={good}"))], 202),
        ("prefix in capitals", vec![("x-clubmed-signature", format!("SHA256={good}"))], 202),
        ("another algorithm's prefix", vec![("x-clubmed-signature", format!("sha1={good}"))], 401),
        ("Shortcut's header instead", vec![("payload-signature", good.clone())], 401),
        ("missing", vec![], 401),
    ];
    for (case, headers, expected) in cases {
        let (status, answer) = post(&app, "/hooks/clubmed", &headers, body).await;
        let status = if status == 200 && answer["status"] == "duplicate" { 202 } else { status };
        assert_eq!(status, expected, "{case}");
    }
}

#[tokio::test]
async fn pivotal_needs_its_token_in_the_url() {
    let sink = FakeSink::start().await;
    let app =
        spawn_app(&sink, "  - name: none\n    when: { entity_type: nothing }\n    send: [deploys]\n").await;
    let body = fixture("pivotal/zulip_v5_story_started.json");
    assert_eq!(post(&app, "/hooks/tracker", &[], &body).await.0, 401);
    assert_eq!(post(&app, "/hooks/tracker?token=wrong", &[], &body).await.0, 401);
    assert_eq!(post(&app, &format!("/hooks/tracker?token={PIVOTAL_TOKEN}x"), &[], &body).await.0, 401);
    assert_eq!(post(&app, &format!("/hooks/tracker?token={PIVOTAL_TOKEN}"), &[], &body).await.0, 202);
}

#[tokio::test]
async fn a_rejected_request_queues_no_message() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, "  - name: all\n    when: { primary: true }\n    send: [deploys]\n").await;
    let forged = fixture(STATE_CHANGE);
    let (status, _) =
        post(&app, "/hooks/shortcut", &[("payload-signature", sign_hex("guess", &forged))], &forged).await;
    assert_eq!(status, 401);
    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await.status(), 202);
    app.settled().await;

    let received = sink.take_all();
    assert_eq!(received.len(), 1);
    assert!(received[0].body["text"].as_str().unwrap().contains("deleted"), "{:?}", received[0].body);
}
