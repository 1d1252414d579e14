//! GitHub, GitLab, Linear and Jira: each verified its own way, each read into
//! the one event model, each message what a team would want to read. The
//! payloads are the trackers' published examples and real captures
//! (`tests/fixtures/SOURCES.md`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use storybridge::verify::sign_hex;

use crate::support::app::{spawn, Options, GITHUB_SECRET, GITLAB_TOKEN, JIRA_SECRET, LINEAR_SECRET};
use crate::support::{own_fixture, FakeSink, TestApp};

fn config(rules: &str) -> String {
    format!(
        r#"
listen: "127.0.0.1:0"
storage: "sqlite::memory:"
sources:
  github: {{ kind: github, secrets: ["{GITHUB_SECRET}", "old-github-secret"] }}
  gitlab: {{ kind: gitlab, token: "{GITLAB_TOKEN}", tokens: ["old-gitlab-token"] }}
  linear: {{ kind: linear, secrets: ["{LINEAR_SECRET}"] }}
  jira:   {{ kind: jira, secrets: ["{JIRA_SECRET}"] }}
channels:
  deploys: {{ kind: slack, url: "${{SLACK_DEPLOYS_URL}}", rate_limit: {{ per_second: 1000, burst: 100 }} }}
rules:
{rules}
"#
    )
}

const EVERYTHING: &str = "  - { name: all, when: {}, send: [deploys] }";

async fn start(sink: &FakeSink, rules: &str) -> TestApp {
    spawn(&sink.base(), &config(rules), Options::default()).await
}

async fn post(app: &TestApp, source: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut request =
        app.http.post(app.url(&format!("/hooks/{source}"))).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.body(body.to_vec()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn github(app: &TestApp, event: &str, body: &[u8]) -> (u16, Value) {
    let signature = format!("sha256={}", sign_hex(GITHUB_SECRET, body));
    let delivery = format!("{:x}", md5ish(body));
    post(
        app,
        "github",
        &[
            ("x-github-event", event.to_owned()),
            ("x-hub-signature-256", signature),
            ("x-github-delivery", delivery),
        ],
        body,
    )
    .await
}

/// A delivery id per body, as GitHub gives one per event.
fn md5ish(body: &[u8]) -> u64 {
    body.iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x100_0000_01b3))
}

/// The Slack message's text: the headline, and the details block under it.
fn slack_text(body: &Value) -> String {
    let details: Vec<&str> = body["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|block| block["text"]["text"].as_str())
        .collect();
    details.join("\n")
}

/// A fixture with `edit` applied: GitHub's examples have an empty `changes`
/// on `edited`, and none is a merge or a bot.
fn edited(path: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&own_fixture(path)).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[tokio::test]
async fn github_issues_pull_requests_and_comments_read_as_sentences_with_titles_and_links() {
    let mut sink = FakeSink::start().await;
    let app = start(&sink, EVERYTHING).await;
    let issue = "<https://github.com/Codertocat/Hello-World/issues/1|#1 Spelling error in the README file>";
    let pull =
        "<https://github.com/Codertocat/Hello-World/pull/2|#2 Update the README with new information.>";
    let merged = edited("github/pull_request_closed.json", |pr| pr["pull_request"]["merged"] = json!(true));
    let retitled = edited("github/issues_edited.json", |issue| {
        issue["changes"] = json!({"title": {"from": "Spelling eror in the README"}})
    });
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("issues", own_fixture("github/issues_opened.json"), format!("✨ *Codertocat* opened issue {issue}")),
        ("issues", retitled, format!("*Codertocat* updated issue {issue}")),
        ("issues", own_fixture("github/issues_labeled.json"), format!("*Codertocat* updated issue {issue}")),
        ("issues", own_fixture("github/issues_assigned.json"), format!("*Codertocat* updated issue {issue}")),
        (
            "issues",
            own_fixture("github/issues_reopened.json"),
            format!("*Codertocat* reopened issue {issue}"),
        ),
        (
            "issue_comment",
            own_fixture("github/issue_comment_created.json"),
            format!("💬 *Codertocat* commented on {issue}"),
        ),
        (
            "pull_request",
            own_fixture("github/pull_request_opened.json"),
            format!("✨ *Codertocat* opened pull request {pull}"),
        ),
        (
            "pull_request",
            own_fixture("github/pull_request_closed.json"),
            format!("*Codertocat* closed pull request {pull}"),
        ),
        ("pull_request", merged, format!("*Codertocat* merged pull request {pull}")),
        (
            "pull_request",
            own_fixture("github/pull_request_review_requested.json"),
            format!("*Codertocat* requested a review of pull request {pull}"),
        ),
    ];
    let mut texts = Vec::new();
    for (event, body, headline) in cases {
        let (status, answer) = github(&app, event, &body).await;
        assert_eq!((status, answer["status"].as_str()), (202, Some("accepted")), "{headline}");
        let received = sink.next().await;
        assert_eq!(received.body["text"], headline);
        texts.push(slack_text(&received.body));
    }
    assert_eq!(
        texts[0],
        format!("✨ *Codertocat* opened issue {issue}\n• *owners*: Codertocat\n• *labels*: bug")
    );
    assert!(
        texts[1].ends_with("• *title*: Spelling eror in the README → Spelling error in the README file"),
        "{}",
        texts[1]
    );
    assert!(texts[2].ends_with("• *labels*: added bug"), "{}", texts[2]);
    assert!(texts[3].ends_with("• *owners*: added Codertocat"), "{}", texts[3]);
    assert!(texts[5].ends_with("> You are totally right! I'll get this fixed right away."), "{}", texts[5]);
    assert!(texts[8].ends_with("• *state*: open → merged"), "{}", texts[8]);
    assert!(texts[9].ends_with("• *reviewers*: added octocat"), "{}", texts[9]);
    app.stop().await;
}

/// A case: what it shows, the source, the headers sent, the body, the status expected.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, String)>, Vec<u8>, u16);

#[tokio::test]
async fn each_tracker_is_verified_its_own_way_and_a_wrong_credential_is_401() {
    let sink = FakeSink::start().await;
    let app = start(&sink, "  - { name: none, when: { entity_type: nothing }, send: [deploys] }").await;
    let issue = own_fixture("github/issues_opened.json");
    let github_signature = |secret: &str| format!("sha256={}", sign_hex(secret, &issue));
    let event = || ("x-github-event", "issues".to_owned());
    let cases: Vec<Case> = vec![
        ("github: no signature", "github", vec![event()], issue.clone(), 401),
        (
            "github: another secret",
            "github",
            vec![event(), ("x-hub-signature-256", github_signature("guess"))],
            issue.clone(),
            401,
        ),
        (
            "github: SHA-1 header only",
            "github",
            vec![event(), ("x-hub-signature", format!("sha1={}", "0".repeat(40)))],
            issue.clone(),
            401,
        ),
        (
            "github: valid",
            "github",
            vec![event(), ("x-hub-signature-256", github_signature(GITHUB_SECRET))],
            issue.clone(),
            202,
        ),
        (
            "github: the previous secret, while rotating",
            "github",
            vec![event(), ("x-hub-signature-256", github_signature("old-github-secret"))],
            issue.clone(),
            202,
        ),
        (
            "github: signed but no X-GitHub-Event",
            "github",
            vec![("x-hub-signature-256", github_signature(GITHUB_SECRET))],
            issue.clone(),
            400,
        ),
        ("gitlab: no token", "gitlab", vec![], own_fixture("gitlab/issue_hook.json"), 401),
        (
            "gitlab: wrong token",
            "gitlab",
            vec![("x-gitlab-token", "gitlab-toke".into())],
            own_fixture("gitlab/issue_hook.json"),
            401,
        ),
        (
            "gitlab: token",
            "gitlab",
            vec![("x-gitlab-token", GITLAB_TOKEN.into())],
            own_fixture("gitlab/issue_hook.json"),
            202,
        ),
        (
            "gitlab: the other token",
            "gitlab",
            vec![("x-gitlab-token", "old-gitlab-token".into())],
            own_fixture("gitlab/note_hook_issue.json"),
            202,
        ),
        (
            "gitlab: token, but no object_kind",
            "gitlab",
            vec![("x-gitlab-token", GITLAB_TOKEN.into())],
            br#"{"event_type":"issue"}"#.to_vec(),
            400,
        ),
        ("jira: no signature", "jira", vec![], own_fixture("jira/cloud_comment_created_adf.json"), 401),
        (
            "jira: valid",
            "jira",
            vec![(
                "x-hub-signature",
                format!(
                    "sha256={}",
                    sign_hex(JIRA_SECRET, &own_fixture("jira/cloud_comment_created_adf.json"))
                ),
            )],
            own_fixture("jira/cloud_comment_created_adf.json"),
            202,
        ),
    ];
    for (case, source, headers, body, expected) in cases {
        let (status, answer) = post(&app, source, &headers, &body).await;
        // A body accepted before comes back as a duplicate (200): it got through.
        let status = if status == 200 && answer["status"] == "duplicate" { 202 } else { status };
        assert_eq!(status, expected, "{case}: {answer}");
        if expected == 401 {
            assert_eq!(answer, json!({"error": "invalid or missing signature"}), "{case}");
        }
    }
    let (status, answer) = github(&app, "ping", &own_fixture("github/ping.json")).await;
    assert_eq!((status, answer), (200, json!({"status": "pong"})));
    app.stop().await;
}

/// A Linear body stamped `offset_ms` from now, signed.
fn linear_body(path: &str, offset_ms: i64) -> (Vec<u8>, String) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let body = edited(path, |value| value["webhookTimestamp"] = json!(now + offset_ms));
    let signature = sign_hex(LINEAR_SECRET, &body);
    (body, signature)
}

#[tokio::test]
async fn linear_refuses_a_replayed_body_even_with_a_valid_signature() {
    let mut sink = FakeSink::start().await;
    let app = start(&sink, EVERYTHING).await;
    let path = "linear/issue_update_state_labels_assignee.json";
    for (case, offset, expected) in
        [("five minutes old", -300_000, 401), ("two minutes ahead", 120_000, 401), ("just sent", -2_000, 202)]
    {
        let (body, signature) = linear_body(path, offset);
        let (status, answer) = post(&app, "linear", &[("linear-signature", signature)], &body).await;
        assert_eq!(status, expected, "{case}: {answer}");
        if expected == 401 {
            let error = answer["error"].as_str().unwrap();
            assert!(error.starts_with("webhookTimestamp is ") && error.contains("clock"), "{case}: {error}");
        }
    }
    let unstamped = edited(path, |value| {
        value.as_object_mut().unwrap().remove("webhookTimestamp");
    });
    let (status, _) =
        post(&app, "linear", &[("linear-signature", sign_hex(LINEAR_SECRET, &unstamped))], &unstamped).await;
    assert_eq!(status, 401, "a signed body without a stamp could be replayed forever");
    let (body, _) = linear_body(path, 0);
    let (status, _) = post(&app, "linear", &[("linear-signature", sign_hex("guess", &body))], &body).await;
    assert_eq!(status, 401);

    let received = sink.next().await;
    let issue = "<https://linear.app/acme/issue/ENG-123/fix-login-redirect-on-mobile|ENG-123 Fix login redirect on mobile>";
    assert_eq!(received.body["text"], format!("*Alice Ng* updated issue {issue}"));
    assert_eq!(
        slack_text(&received.body),
        format!(
            "*Alice Ng* updated issue {issue}\n• *state*: In Progress\n• *owners*: added Bob Ray\n\
             • *labels*: added Bug\n• *priority*: Medium → Urgent"
        )
    );
    app.stop().await;
}

#[tokio::test]
async fn gitlab_and_jira_messages_name_the_issue_by_its_key_and_show_what_changed() {
    let mut sink = FakeSink::start().await;
    let app = start(&sink, EVERYTHING).await;
    let gitlab = |path: &str| (path.to_owned(), own_fixture(path));
    let closed = edited("gitlab/issue_hook.json", |hook| {
        hook["object_attributes"]["action"] = json!("close");
        hook["changes"] = json!({
            "state_id": {"previous": 1, "current": 2},
            "closed_at": {"previous": null, "current": "2021-09-27 05:00:01 UTC"},
            "due_date": {"previous": null, "current": "2021-10-01"}
        });
    });
    let relabeled =
        edited("gitlab/issue_hook.json", |hook| hook["object_attributes"]["action"] = json!("update"));
    let issue = "<http://example.com/diaspora/issues/23|#23 New API: create/update/delete file>";
    for ((_, body), expected) in [
        (gitlab("gitlab/issue_hook.json"), format!("✨ *Administrator* opened issue {issue}\n• *owners*: User1\n• *labels*: API")),
        (("closed".into(), closed), format!("*Administrator* closed issue {issue}\n• *state*: opened → closed\n• *due date*: 2021-10-01")),
        (("relabeled".into(), relabeled), format!("*Administrator* updated issue {issue}\n• *labels*: added Platform; removed API")),
        (
            gitlab("gitlab/merge_request_hook.json"),
            "✨ *Administrator* opened merge request <http://example.com/diaspora/merge_requests/1|!1 MS-Viewport>\n\
             • *owners*: User1\n• *labels*: API"
                .to_owned(),
        ),
        (
            gitlab("gitlab/note_hook_issue.json"),
            "💬 *Administrator* commented on <http://example.com/gitlab-org/gitlab-test/issues/17|#17 test>\n> Hello world"
                .to_owned(),
        ),
    ] {
        let (status, _) = post(&app, "gitlab", &[("x-gitlab-token", GITLAB_TOKEN.into())], &body).await;
        assert_eq!(status, 202);
        assert_eq!(slack_text(&sink.next().await.body), expected);
    }
    let jira = |path: &str| {
        let body = own_fixture(path);
        let signature = format!("sha256={}", sign_hex(JIRA_SECRET, &body));
        (body, signature)
    };
    for (path, expected) in [
        (
            "jira/mskcc_server_issue_updated_status.json",
            "*Scruffy Scruffington* updated issue <http://jira.mskcc.org:8090/browse/JIRA-12|JIRA-12>\n\
             • *state*: Pipeline Completed; No Failures → CI Review Needed",
        ),
        (
            "jira/cloud_issue_updated_assignee_labels.json",
            "*Mia Krystof* updated issue <https://acme.atlassian.net/browse/PAY-42|PAY-42 Refunds over 1000 EUR fail>\n\
             • *owners*: added Ravi Patel\n• *labels*: added refunds\n• *state*: In Progress → Done\n• *due date*: 2024-02-01",
        ),
        (
            "jira/cloud_comment_created_adf.json",
            "💬 *Mia Krystof* commented on <https://acme.atlassian.net/browse/PAY-42|PAY-42 Refunds over 1000 EUR fail>\n\
             > Reproduced on staging.\n> Logs attached.",
        ),
    ] {
        let (body, signature) = jira(path);
        let (status, _) = post(&app, "jira", &[("x-hub-signature", signature)], &body).await;
        assert_eq!(status, 202, "{path}");
        assert_eq!(slack_text(&sink.next().await.body), expected, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn one_rule_vocabulary_routes_every_tracker_and_automation_is_muted_by_kind() {
    let mut sink = FakeSink::start().await;
    let rules = r#"
  - name: done
    when: { to: { state: [closed, merged, Done] }, ignore_actor: [bot, integration] }
    send: [deploys]
    template: done
  - name: bugs
    when: { label: { added: [bug, Bug] }, ignore_actor: [bot, integration] }
    send: [deploys]
    template: bug
  - name: assigned-to-bob
    when: { owner_added: "Bob Ray" }
    send: [deploys]
    template: assigned
"#;
    let yaml = format!("templates: templates\n{}", config(rules));
    let dir = crate::support::process::temp_dir("trackers-rules");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    for (name, text) in
        [("done", "done: {{name}}"), ("bug", "bug: {{name}}"), ("assigned", "for Bob: {{name}}")]
    {
        std::fs::write(dir.join("templates").join(format!("{name}.hbs")), text).unwrap();
    }
    let app = spawn(
        &sink.base(),
        &yaml,
        Options { config_file: Some(dir.join("bridge.yaml")), ..Default::default() },
    )
    .await;

    let merged = edited("github/pull_request_closed.json", |pr| pr["pull_request"]["merged"] = json!(true));
    let by_bot = edited("github/issues_labeled.json", |issue| {
        issue["sender"]["login"] = json!("dependabot[bot]");
        issue["sender"]["type"] = json!("Bot");
    });
    github(&app, "pull_request", &merged).await;
    github(&app, "issues", &by_bot).await;
    github(&app, "issues", &own_fixture("github/issues_labeled.json")).await;
    let (body, signature) = linear_body("linear/issue_update_state_labels_assignee.json", 0);
    post(&app, "linear", &[("linear-signature", signature)], &body).await;
    let (body, signature) = linear_body("linear/issue_create_by_integration.json", 0);
    post(&app, "linear", &[("linear-signature", signature)], &body).await;
    let body = own_fixture("jira/cloud_issue_updated_assignee_labels.json");
    post(&app, "jira", &[("x-hub-signature", format!("sha256={}", sign_hex(JIRA_SECRET, &body)))], &body)
        .await;
    app.routed().await;
    app.settled().await;

    let mut texts: Vec<String> =
        sink.take_all().iter().map(|received| received.body["text"].as_str().unwrap().to_owned()).collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "bug: #1 Spelling error in the README file",
            "bug: ENG-123 Fix login redirect on mobile",
            "done: #2 Update the README with new information.",
            "done: PAY-42 Refunds over 1000 EUR fail",
            "for Bob: ENG-123 Fix login redirect on mobile",
        ]
    );
    app.stop().await;
}

/// The README's block under "GitHub, GitLab, Linear and Jira", as a user
/// would paste it: it loads, and its rules fire as its comments say.
#[tokio::test]
async fn the_readme_tracker_config_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("## GitHub, GitLab, Linear and Jira").expect("the section")..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let block = block
        .replace("${GITHUB_WEBHOOK_SECRET}", GITHUB_SECRET)
        .replace("${GITLAB_WEBHOOK_TOKEN}", GITLAB_TOKEN)
        .replace("${LINEAR_WEBHOOK_SECRET}", LINEAR_SECRET)
        .replace("${JIRA_WEBHOOK_SECRET}", JIRA_SECRET);
    let yaml = format!(
        "listen: \"127.0.0.1:0\"\nstorage: \"sqlite::memory:\"\n{block}\nchannels:\n  \
         deploys: {{ kind: slack, url: \"${{SLACK_DEPLOYS_URL}}\", rate_limit: {{ per_second: 1000, burst: 100 }} }}\n  \
         team: {{ kind: discord, url: \"${{DISCORD_TEAM_URL}}\" }}\n"
    );
    let mut sink = FakeSink::start().await;
    let app = spawn(&sink.base(), &yaml, Options::default()).await;
    let merged = edited("github/pull_request_closed.json", |pr| pr["pull_request"]["merged"] = json!(true));
    github(&app, "pull_request", &merged).await;
    github(&app, "issues", &own_fixture("github/issues_labeled.json")).await;
    github(&app, "pull_request", &own_fixture("github/pull_request_review_requested.json")).await;
    let closed =
        edited("gitlab/issue_hook.json", |hook| hook["object_attributes"]["action"] = json!("close"));
    post(&app, "gitlab", &[("x-gitlab-token", GITLAB_TOKEN.into())], &closed).await;
    let body = own_fixture("jira/cloud_issue_updated_assignee_labels.json");
    post(&app, "jira", &[("x-hub-signature", format!("sha256={}", sign_hex(JIRA_SECRET, &body)))], &body)
        .await;
    app.routed().await;
    app.settled().await;
    let mut got: Vec<(String, String)> = sink
        .take_all()
        .into_iter()
        .map(|received| {
            let text = received.body["text"].as_str().or(received.body["embeds"][0]["title"].as_str());
            (received.path, text.unwrap_or_default().to_owned())
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("/discord/team".to_owned(), "#1 Spelling error in the README file".to_owned()),
            ("/discord/team".to_owned(), "#2 Update the README with new information.".to_owned()),
            (
                "/slack/deploys".to_owned(),
                "*Administrator* closed issue <http://example.com/diaspora/issues/23|#23 New API: create/update/delete file>"
                    .to_owned()
            ),
            (
                "/slack/deploys".to_owned(),
                "*Codertocat* merged pull request <https://github.com/Codertocat/Hello-World/pull/2|#2 Update the README with new information.>"
                    .to_owned()
            ),
            (
                "/slack/deploys".to_owned(),
                "*Mia Krystof* updated issue <https://acme.atlassian.net/browse/PAY-42|PAY-42 Refunds over 1000 EUR fail>"
                    .to_owned()
            ),
        ]
    );
    app.stop().await;
}

/// GitHub's default content type is a form whose `payload` field holds the
/// JSON; the signature covers the form's bytes as sent.
#[tokio::test]
async fn github_form_encoded_deliveries_are_read_like_json_ones() {
    let mut sink = FakeSink::start().await;
    let app = start(&sink, EVERYTHING).await;
    let json = own_fixture("github/issues_labeled.json");
    let form = format!("payload={}", url_encode(&json));
    let signature = format!("sha256={}", sign_hex(GITHUB_SECRET, form.as_bytes()));
    let response = app
        .http
        .post(app.url("/hooks/github"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "issues")
        .header("x-hub-signature-256", signature)
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert!(slack_text(&sink.next().await.body).ends_with("• *labels*: added bug"));
    app.stop().await;
}

fn url_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
