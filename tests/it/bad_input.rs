//! What a client can send wrong, and the exact status it gets. The server keeps
//! serving after every one of them.

use serde_json::{json, Value};
use storybridge::verify::sign_hex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::app::{
    sign_clubmed, GITHUB_SECRET, GITLAB_TOKEN, JIRA_SECRET, LINEAR_SECRET, PIVOTAL_TOKEN, SHORTCUT_SECRET,
};
use crate::support::{fixture, own_fixture, spawn_app, FakeSink};

const NO_RULES: &str = "  - name: none\n    when: { entity_type: nothing }\n    send: [deploys]\n";

#[tokio::test]
async fn each_bad_request_gets_its_documented_status() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    let signed = |body: &[u8]| sign_hex(SHORTCUT_SECRET, body);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = vec![b' '; 70_000];
    let cases: Vec<(&str, &str, &str, Vec<u8>, u16)> = vec![
        ("unknown source", "/hooks/asana", "application/json", b"{}".to_vec(), 404),
        ("text/plain body", "/hooks/shortcut", "text/plain", b"{}".to_vec(), 415),
        ("body over max_body_bytes", "/hooks/shortcut", "application/json", huge, 413),
        ("malformed JSON", "/hooks/shortcut", "application/json", b"{\"id\":".to_vec(), 400),
        ("a JSON array", "/hooks/shortcut", "application/json", b"[1,2]".to_vec(), 400),
        ("a JSON string", "/hooks/shortcut", "application/json", b"\"story\"".to_vec(), 400),
        ("nested 10,000 deep", "/hooks/shortcut", "application/json", deep.into_bytes(), 400),
        ("actions is not a list", "/hooks/shortcut", "application/json", br#"{"actions":{}}"#.to_vec(), 400),
        ("invalid UTF-8", "/hooks/shortcut", "application/json", b"{\"id\":\"\xff\xfe\"}".to_vec(), 400),
    ];
    for (case, path, content_type, body, expected) in cases {
        let response = app
            .http
            .post(app.url(path))
            .header("content-type", content_type)
            .header("payload-signature", signed(&body))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "{case}");
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(answer["error"].is_string(), "{case}: a JSON error body, got {answer}");
    }
    let valid = app.post_shortcut(&fixture("shortcut/zulip_story_create.json")).await;
    assert_eq!(valid.status(), 202, "still serving after every bad request");
}

/// How a request proves where it comes from, per source.
#[derive(Clone, Copy)]
enum Proof {
    /// This signature header, over the body as sent.
    Good,
    /// The right algorithm, the wrong secret.
    WrongSecret,
    /// A valid signature of another body.
    OtherBody,
    /// A valid signature with its hex digits in alternating case.
    MixedCase,
    /// An empty signature (after the prefix) or token.
    Empty,
}

/// What a request carries as proof: headers to add, or a query string (Pivotal's token).
type Credentials = (Vec<(&'static str, String)>, String);

struct Source {
    path: &'static str,
    prove: fn(Proof, &[u8]) -> Credentials,
}

fn mixed_case(hex: &str) -> String {
    hex.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect()
}

fn hmac_proof(proof: Proof, body: &[u8], sign: fn(&[u8]) -> String) -> String {
    match proof {
        Proof::Good => sign(body),
        Proof::WrongSecret => sign_hex("guess", body),
        Proof::OtherBody => sign(b"{}"),
        Proof::MixedCase => mixed_case(&sign(body)),
        Proof::Empty => String::new(),
    }
}

/// GitLab, like Pivotal, sends a token, not a signature: compared exactly.
fn token_proof(proof: Proof, token: &str) -> String {
    match proof {
        Proof::Good => token.to_owned(),
        Proof::WrongSecret | Proof::OtherBody => "guess".to_owned(),
        Proof::MixedCase => token.to_uppercase(),
        Proof::Empty => String::new(),
    }
}

const SOURCES: [Source; 7] = [
    Source {
        path: "/hooks/shortcut",
        prove: |proof, body| {
            let signature = hmac_proof(proof, body, |body| sign_hex(SHORTCUT_SECRET, body));
            (vec![("payload-signature", signature)], String::new())
        },
    },
    Source {
        path: "/hooks/clubmed",
        prove: |proof, body| {
            let signature = hmac_proof(proof, body, sign_clubmed);
            (vec![("x-clubmed-signature", format!("sha256={signature}"))], String::new())
        },
    },
    Source {
        path: "/hooks/tracker",
        // Pivotal cannot sign: the token is the proof, and it is compared exactly.
        prove: |proof, _| {
            let token = match proof {
                Proof::Good => PIVOTAL_TOKEN.to_owned(),
                Proof::WrongSecret | Proof::OtherBody => "guess".to_owned(),
                Proof::MixedCase => PIVOTAL_TOKEN.to_uppercase(),
                Proof::Empty => String::new(),
            };
            (Vec::new(), format!("?token={token}"))
        },
    },
    Source {
        path: "/hooks/github",
        prove: |proof, body| {
            let signature = hmac_proof(proof, body, |body| sign_hex(GITHUB_SECRET, body));
            (
                vec![
                    ("x-github-event", "issues".into()),
                    ("x-hub-signature-256", format!("sha256={signature}")),
                ],
                String::new(),
            )
        },
    },
    Source {
        path: "/hooks/gitlab",
        prove: |proof, _| (vec![("x-gitlab-token", token_proof(proof, GITLAB_TOKEN))], String::new()),
    },
    Source {
        path: "/hooks/linear",
        prove: |proof, body| {
            let signature = hmac_proof(proof, body, |body| sign_hex(LINEAR_SECRET, body));
            (vec![("linear-signature", signature)], String::new())
        },
    },
    Source {
        path: "/hooks/jira",
        prove: |proof, body| {
            let signature = hmac_proof(proof, body, |body| sign_hex(JIRA_SECRET, body));
            (vec![("x-hub-signature", format!("sha256={signature}"))], String::new())
        },
    },
];

/// The README's bad-input matrix, for every kind of source: each request gets
/// its documented status, the server keeps serving, and nothing a rejected
/// request carried is stored: the same valid event, posted last, is new (202).
#[tokio::test]
async fn the_bad_input_matrix_holds_for_every_source() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    // Linear refuses a body stamped more than a minute ago: stamp it now.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let mut linear: Value = serde_json::from_slice(&own_fixture("linear/comment_create.json")).unwrap();
    linear["webhookTimestamp"] = json!(now as u64);
    let valid_bodies: [Vec<u8>; 7] = [
        fixture("shortcut/zulip_story_update_change_state.json"),
        br#"{"id": "matrix-1", "name": "A story"}"#.to_vec(),
        fixture("pivotal/zulip_v5_story_started.json"),
        own_fixture("github/issues_opened.json"),
        own_fixture("gitlab/note_hook_issue.json"),
        serde_json::to_vec(&linear).unwrap(),
        own_fixture("jira/cloud_comment_created_adf.json"),
    ];
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    for (source, valid) in SOURCES.iter().zip(valid_bodies) {
        let cases: Vec<(&str, Vec<u8>, Proof, u16)> = vec![
            ("empty body", Vec::new(), Proof::Good, 200),
            ("not JSON", b"story moved".to_vec(), Proof::Good, 400),
            ("a JSON array", b"[1,2]".to_vec(), Proof::Good, 400),
            ("a JSON string", b"\"story\"".to_vec(), Proof::Good, 400),
            ("nested 10,000 deep", deep.clone(), Proof::Good, 400),
            ("invalid UTF-8", b"{\"id\":\"\xff\xfe\"}".to_vec(), Proof::Good, 400),
            ("a 10 MB body", vec![b' '; 10 * 1024 * 1024], Proof::Good, 413),
            ("wrong secret", valid.clone(), Proof::WrongSecret, 401),
            ("signature of another body", valid.clone(), Proof::OtherBody, 401),
            ("an empty proof", valid.clone(), Proof::Empty, 401),
        ];
        for (case, body, proof, expected) in cases {
            let (status, _) = send(&app, source, proof, body).await;
            assert_eq!(status, expected, "{} {case}", source.path);
        }
        // Last, the same valid event: it must be new. Hex is case-insensitive;
        // Pivotal's token is not.
        let (status, _) = send(&app, source, Proof::MixedCase, valid.clone()).await;
        let token = matches!(source.path, "/hooks/tracker" | "/hooks/gitlab");
        let mixed_case = if token { 401 } else { 202 };
        assert_eq!(status, mixed_case, "{} mixed case", source.path);
        let (status, answer) = send(&app, source, Proof::Good, valid.clone()).await;
        let expected = if mixed_case == 202 { "duplicate" } else { "accepted" };
        assert_eq!(answer["status"], expected, "{}: {status} {answer}", source.path);
        let stored = app.store.events(answer["event_id"].as_str().unwrap()).await.unwrap();
        assert_eq!(stored.len(), 1, "{}: stored once", source.path);
    }
}

async fn send(
    app: &crate::support::app::TestApp,
    source: &Source,
    proof: Proof,
    body: Vec<u8>,
) -> (u16, Value) {
    let (header, query) = (source.prove)(proof, &body);
    let mut request = app
        .http
        .post(app.url(&format!("{}{query}", source.path)))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_body_that_grows_past_the_limit_without_a_length_is_cut_off_with_413() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    // Raw HTTP/1.1 with chunked encoding: no Content-Length to refuse up front.
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let head = "POST /hooks/shortcut HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("1000\r\n{}\r\n", " ".repeat(4096));
    for _ in 0..20 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server may close as soon as the limit is passed
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn json_sent_with_curls_default_form_type_is_read_as_json() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    let body = fixture("shortcut/zulip_story_create.json");
    let response = app
        .http
        .post(app.url("/hooks/shortcut"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("payload-signature", sign_hex(SHORTCUT_SECRET, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn wrong_methods_and_a_repeated_token_get_the_documented_json_and_are_counted() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    let get = app.http.get(app.url("/hooks/shortcut")).send().await.unwrap();
    assert_eq!((get.status().as_u16(), get.headers()["allow"].to_str().unwrap()), (405, "POST"));
    assert_eq!(
        get.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "webhooks are POSTed"})
    );
    let put = app.http.put(app.url("/hooks/nowhere")).body("{}").send().await.unwrap();
    assert_eq!(put.status(), 405);

    let twice = app.post_pivotal(b"{}", "a&token=b").await;
    assert_eq!(twice.status(), 400);
    assert_eq!(
        twice.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "`token` given more than once"})
    );

    let metrics = app.metrics().await;
    for counted in [
        "storybridge_events_received_total{source=\"shortcut\",outcome=\"method_not_allowed\"} 1",
        "storybridge_events_received_total{source=\"<unknown>\",outcome=\"method_not_allowed\"} 1",
        "storybridge_events_received_total{source=\"tracker\",outcome=\"bad_request\"} 1",
    ] {
        assert!(metrics.contains(counted), "{counted} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn empty_posts_are_acknowledged_and_ignored() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, "  - name: all\n    when: {}\n    send: [deploys]\n").await;
    for body in ["", "  \n", "null"] {
        let response = app.http.post(app.url("/hooks/shortcut")).body(body).send().await.unwrap();
        assert_eq!(response.status(), 200, "{body:?}");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": "ignored", "reason": "empty body"})
        );
    }
    app.settled().await;
    assert!(sink.take_all().is_empty());
}

#[tokio::test]
async fn a_form_body_without_a_payload_field_is_a_bad_request() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    let body = b"event=story&id=1";
    let response = app
        .http
        .post(app.url("/hooks/clubmed"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-clubmed-signature", format!("sha256={}", sign_clubmed(body)))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "form body has no `payload` field (send JSON with Content-Type: application/json)"})
    );
}

#[tokio::test]
async fn a_body_that_trickles_in_too_slowly_gets_408_and_frees_the_connection() {
    let sink = FakeSink::start().await;
    let yaml = format!("body_timeout: 1s\n{}", crate::support::app::config_with(NO_RULES));
    let app = crate::support::app::spawn_with_storage(&sink.base(), &yaml, None).await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let head = "POST /hooks/shortcut HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\":";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "after {:?}", started.elapsed());
}

#[tokio::test]
async fn a_request_head_that_trickles_in_too_slowly_is_cut_off_and_so_is_an_idle_connection() {
    let sink = FakeSink::start().await;
    let yaml = format!("idle_timeout: 1s\n{}", crate::support::app::config_with(NO_RULES));
    let app = crate::support::app::spawn_with_storage(&sink.base(), &yaml, None).await;
    for opening in ["POST /hooks/shortcut HTTP/1.1\r\nhost: x\r\n", ""] {
        let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
        stream.write_all(opening.as_bytes()).await.unwrap();
        let started = std::time::Instant::now();
        let mut answer = vec![0; 1024];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer)).await;
        // Closed (0 bytes, or a reset), not left hanging.
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{opening:?}: {read:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "after {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn repeated_signature_headers_pass_only_with_a_valid_one_and_huge_headers_are_refused() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    let body = fixture("shortcut/zulip_story_create.json");
    let post = |signatures: Vec<String>| {
        let mut request =
            app.http.post(app.url("/hooks/shortcut")).header("content-type", "application/json");
        for signature in signatures {
            request = request.header("payload-signature", signature);
        }
        request.body(body.clone()).send()
    };
    let good = sign_hex(SHORTCUT_SECRET, &body);
    let bad = sign_hex("guess", &body);
    assert_eq!(post(vec![bad.clone(), bad.clone()]).await.unwrap().status(), 401);
    assert_eq!(post(vec![bad, good]).await.unwrap().status(), 202);

    let huge = "a".repeat(512 * 1024);
    let refused =
        app.http.post(app.url("/hooks/shortcut")).header("x-padding", huge).body(body.clone()).send().await;
    match refused {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(error) => assert!(error.is_request() || error.is_connect() || error.is_body(), "{error}"),
    }
    assert_eq!(
        app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await.status(),
        202,
        "still serving"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_are_all_answered() {
    let sink = FakeSink::start().await;
    let app = spawn_app(&sink, NO_RULES).await;
    let tasks: Vec<_> = (0..1000)
        .map(|n| {
            let url = app.url("/hooks/shortcut");
            tokio::spawn(async move {
                // A client of its own: a connection of its own.
                let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
                let body = format!(
                    r#"{{"id":"conn-{n}","actions":[{{"id":{n},"entity_type":"story","action":"update"}}]}}"#
                );
                let signature = sign_hex(SHORTCUT_SECRET, body.as_bytes());
                let response =
                    client.post(url).header("payload-signature", signature).body(body).send().await;
                response.map(|r| r.status().as_u16()).unwrap_or(0)
            })
        })
        .collect();
    let mut statuses = std::collections::HashMap::new();
    for task in tasks {
        *statuses.entry(task.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses.get(&202), Some(&1000), "{statuses:?}");
    assert_eq!(app.post_shortcut(&fixture("shortcut/zulip_story_delete.json")).await.status(), 202);
}
