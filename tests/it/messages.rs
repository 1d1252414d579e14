//! What the chat receives for real tracker events, byte for byte.

use serde_json::{json, Value};

use crate::support::app::{config_with, sign_clubmed, spawn, Options, PIVOTAL_TOKEN};
use crate::support::{fixture, spawn_app, FakeSink};

const READY_FOR_REVIEW: &str = r#"
  - name: ready-for-review
    when:
      source: shortcut
      entity_type: story
      action: update
      changed: [workflow_state_id]
      to: { workflow_state_id: "Ready for Review" }
    send: [deploys, team]
"#;

#[tokio::test]
async fn a_shortcut_state_change_reaches_slack_and_discord_with_names_resolved_and_a_link() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, READY_FOR_REVIEW).await;

    let response = app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;

    assert_eq!(response.status(), 202);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "accepted", "event_id": "5b1fe334-1258-408e-85eb-8ecb6acdcc82", "changes": 1})
    );
    let mut received = [sink.next().await, sink.next().await];
    received.sort_by(|a, b| a.path.cmp(&b.path));
    let (discord, slack) = (&received[0], &received[1]);
    let headline = "*Ada Lovelace* updated bug <https://app.clubhouse.io/zulip/story/11|Add cool feature!>";
    assert_eq!(slack.path, "/slack/deploys");
    assert_eq!(
        slack.body,
        json!({
            "text": headline,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                    "{headline}\n• *state*: Unscheduled → Ready for Review\n• *owners*: added Ada Lovelace")}},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": "bug · Ready for Review · by Ada Lovelace via shortcut"}]}
            ]
        })
    );
    assert_eq!(discord.path, "/discord/team");
    assert_eq!(discord.query.as_deref(), Some("wait=true"));
    assert_eq!(
        discord.body,
        json!({
            "embeds": [{
                "title": "Add cool feature!",
                "url": "https://app.clubhouse.io/zulip/story/11",
                "description": "**Ada Lovelace** updated this bug\n• **state**: Unscheduled → Ready for Review\n\
                                • **owners**: added Ada Lovelace",
                "color": 15158332,
                "fields": [
                    {"name": "Type", "value": "bug", "inline": true},
                    {"name": "State", "value": "Ready for Review", "inline": true}
                ],
                "footer": {"text": "Ada Lovelace · shortcut"},
                "timestamp": "2018-06-12T15:13:56.523Z"
            }],
            "username": "Story Bot",
            "allowed_mentions": {"parse": []}
        })
    );
    assert!(discord.headers["user-agent"].to_str().unwrap().starts_with("DiscordBot ("));
}

#[tokio::test]
async fn a_comment_is_quoted_under_its_story_with_the_rules_template() {
    let mut sink = FakeSink::start().await;
    let rules = "  - name: comments\n    when: { entity_type: story-comment, action: create }\n    send: [team]\n    template: comment\n";
    let app = spawn_app(&sink, rules).await;

    let response = app.post_shortcut(&fixture("shortcut/zulip_story_comment_create.json")).await;

    assert_eq!(response.status(), 202);
    let message = sink.next().await;
    assert_eq!(
        message.body["content"],
        json!("💬 **Ada Lovelace** commented on [Add cool feature!](https://app.clubhouse.io/zulip/story/11)\n> Just leaving a comment here!")
    );
    app.settled().await;
    assert!(sink.take_all().is_empty(), "the story's comment_ids side effect must not send a message");
}

#[tokio::test]
async fn a_template_can_read_the_raw_payload_attributes_and_changes() {
    // Contexts carry the payload, attributes and changes only when some template
    // names them: this one does.
    let mut sink = FakeSink::start().await;
    let dir = std::env::temp_dir().join(format!("storybridge-payload-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/raw.hbs"),
        "{{payload.id}} {{payload.version}}: {{name}} ({{attributes.story_type}}, {{changes.workflow_state_id.new}})",
    )
    .unwrap();
    let rules = "  - name: all\n    when: { primary: true }\n    send: [deploys]\n    template: raw\n";
    let yaml = format!("templates: templates\n{}", config_with(rules));
    let options = Options { config_file: Some(dir.join("bridge.yaml")), ..Default::default() };
    let app = spawn(&sink.base(), &yaml, options).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;

    assert_eq!(
        sink.next().await.body,
        json!({"text": "5b1fe334-1258-408e-85eb-8ecb6acdcc82 v1: Add cool feature! (bug, Ready for Review)"})
    );
}

#[tokio::test]
async fn a_batch_event_sends_one_message_per_story_in_payload_order() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(
        &sink,
        "  - name: stories\n    when: { entity_type: story, action: update }\n    send: [deploys]\n",
    )
    .await;

    let response = app.post_shortcut(&fixture("shortcut/zulip_story_update_multiple_at_once.json")).await;

    assert_eq!(response.json::<Value>().await.unwrap()["changes"], json!(5));
    let mut texts = Vec::new();
    for _ in 0..5 {
        texts.push(sink.next().await.body["blocks"][0]["text"]["text"].as_str().unwrap().to_owned());
    }
    let story = |id: u32, name: &str| {
        format!("*Someone* updated bug <https://app.clubhouse.io/pig208/story/{id}|{name}>\n")
    };
    assert_eq!(
        texts,
        [
            story(17, "asd4") + "• *type*: feature → bug",
            story(26, "new1") + "• *epic*: epic → testeipc",
            story(27, "new2") + "• *labels*: added low priority",
            story(28, "new3") + "• *state*: In Development → Ready for Review",
            story(29, "new4") + "• *project*: Product Development → test2",
        ]
    );
}

#[tokio::test]
async fn a_pivotal_acceptance_matches_on_the_new_state_and_links_the_story() {
    let mut sink = FakeSink::start().await;
    let rules = "  - name: accepted\n    when: { source: tracker, to: { current_state: accepted } }\n    send: [deploys]\n";
    let app = spawn_app(&sink, rules).await;

    let response =
        app.post_pivotal(&fixture("pivotal/docs_v5_story_accepted_darth_vader.json"), PIVOTAL_TOKEN).await;

    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap()["event_id"], json!("99_1037"));
    let body = sink.next().await.body;
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        json!("*Darth Vader* accepted feature <https://www.pivotaltracker.com/story/show/563|Reactor leak reported in Detention Block AA-23>\n\
               • *state*: delivered → accepted")
    );
    assert_eq!(
        body["blocks"][1]["elements"][0]["text"],
        json!("feature · accepted · Death Star · by Darth Vader via tracker")
    );
}

#[tokio::test]
async fn a_generic_form_encoded_event_is_verified_over_the_raw_body_and_delivered() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, "  - name: clubmed\n    when: { source: clubmed }\n    send: [team]\n").await;
    let event = json!({
        "action": "update", "entity_type": "story", "id": 42, "name": "Ship it",
        "url": "https://clubmed.example/s/42", "actor": {"name": "Grace"},
        "changes": {"state": {"old": "Doing", "new": "Done"}}
    });
    let body: String =
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &event.to_string()).finish();

    let response = app
        .http
        .post(app.url("/hooks/clubmed"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-clubmed-signature", format!("sha256={}", sign_clubmed(body.as_bytes())))
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 202);
    let embed = &sink.next().await.body["embeds"][0];
    assert_eq!((&embed["title"], &embed["url"]), (&json!("Ship it"), &json!("https://clubmed.example/s/42")));
    assert_eq!(embed["description"], json!("**Grace** updated this story\n• **state**: Doing → Done"));
}

#[tokio::test]
async fn a_generic_ping_is_acknowledged_and_routes_nothing() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, "  - name: clubmed\n    when: { source: clubmed }\n    send: [team]\n").await;
    let body = br#"{"zen": "Keep it logically awesome."}"#;

    let response = app
        .http
        .post(app.url("/hooks/clubmed"))
        .header("content-type", "application/json")
        .header("x-clubmed-event", "ping")
        .header("x-clubmed-signature", format!("sha256={}", sign_clubmed(body)))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "pong"}));
    app.settled().await;
    assert!(sink.take_all().is_empty());
}

#[tokio::test]
async fn a_story_title_cannot_ping_the_channel_on_slack_or_discord() {
    let mut sink = FakeSink::start().await;
    let app =
        spawn_app(&sink, "  - name: all\n    when: { primary: true }\n    send: [deploys, team]\n").await;
    let body = json!({
        "id": "evil-1", "primary_id": 1, "actions": [{
            "id": 1, "entity_type": "story", "action": "create", "story_type": "bug",
            "name": "<!channel> @everyone <@U024BE7LH> <https://evil.example|click>",
            "app_url": "https://app.shortcut.com/acme/story/1"
        }]
    })
    .to_string();

    assert_eq!(app.post_shortcut(body.as_bytes()).await.status(), 202);

    let mut received = [sink.next().await, sink.next().await];
    received.sort_by(|a, b| a.path.cmp(&b.path));
    let (discord, slack) = (&received[0].body, &received[1].body);
    assert_eq!(
        slack["text"],
        json!("✨ *Someone* created bug <https://app.shortcut.com/acme/story/1|&lt;!channel&gt; @everyone &lt;@U024BE7LH&gt; &lt;https://evil.example\u{2223}click&gt;>")
    );
    assert_eq!(discord["allowed_mentions"], json!({"parse": []}));
    // Embed titles render no mentions or markup; @everyone is broken up all the same.
    assert_eq!(
        discord["embeds"][0]["title"],
        json!("<!channel> @\u{200B}everyone <@U024BE7LH> <https://evil.example|click>")
    );
    assert_eq!(discord["embeds"][0]["description"], json!("✨ **Someone** created this bug"));
}

#[tokio::test]
async fn an_event_no_rule_matches_sends_nothing() {
    let mut sink = FakeSink::start().await;
    let app = spawn_app(&sink, READY_FOR_REVIEW).await;

    let unmatched = app.post_shortcut(&fixture("shortcut/zulip_epic_create.json")).await;
    assert_eq!(unmatched.status(), 202);
    app.routed().await;
    assert!(app.deliveries().await.is_empty(), "routed to no message");
    app.post_shortcut(&fixture("shortcut/zulip_story_update_change_state.json")).await;
    app.settled().await;

    let received = sink.take_all();
    assert_eq!(received.len(), 2, "only the state change's two messages");
    assert!(received.iter().all(|r| r.body.to_string().contains("Add cool feature!")));
}

#[tokio::test]
async fn owners_added_are_mentioned_for_real_only_on_channels_that_allow_it() {
    let mut sink = FakeSink::start().await;
    let yaml = crate::support::app::config_with("  - name: all\n    when: { primary: true }\n    send: [deploys, team]\n")
        .replace(
            "5b1fda16-626f-487f-9ecf-f3a4abf42b8b: { name: \"Ada Lovelace\" }",
            "5b1fda16-626f-487f-9ecf-f3a4abf42b8b: { name: \"Ada Lovelace\", slack: U024ADA, discord: \"80351110224678912\" }",
        )
        .replace("username: \"Story Bot\" }", "username: \"Story Bot\", mentions: true }");
    let app = crate::support::app::spawn_with_storage(&sink.base(), &yaml, None).await;

    app.post_shortcut(&fixture("shortcut/zulip_story_update_add_owner.json")).await;

    let mut received = [sink.next().await, sink.next().await];
    received.sort_by(|a, b| a.path.cmp(&b.path));
    let (discord, slack) = (&received[0].body, &received[1].body);
    // Slack's channel does not allow mentions: the name, not <@U024ADA>.
    assert!(
        slack["blocks"][0]["text"]["text"].as_str().unwrap().ends_with("• *owners*: added Ada Lovelace"),
        "{slack}"
    );
    assert_eq!(discord["content"], json!("<@80351110224678912>"));
    assert_eq!(discord["allowed_mentions"], json!({"parse": [], "users": ["80351110224678912"]}));
    assert!(discord["embeds"][0]["description"]
        .as_str()
        .unwrap()
        .ends_with("• **owners**: added <@80351110224678912>"));
}
