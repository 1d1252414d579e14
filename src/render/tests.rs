use std::path::PathBuf;

use serde_json::json;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("storybridge-render-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn state_change() -> serde_json::Value {
    json!({
        "kind": "update",
        "actor": { "name": "Ada <!channel>" },
        "action_text": "updated",
        "entity": "bug",
        "name": "Fix *it* <@U1>",
        "url": "https://app.shortcut.com/acme/story/11",
        "change_list": [
            { "label": "state", "kind": "value", "old": "Unscheduled", "new": "Ready for Review" },
            { "label": "owners", "kind": "set", "adds": "Ada", "removes": "" },
            { "label": "description", "kind": "text" }
        ]
    })
}

#[test]
fn the_default_template_writes_each_platforms_markup_and_escapes_tracker_text() {
    let templates = Templates::load(None, "bridge.yaml").unwrap();
    let mut context = state_change();
    context["source"] = json!("shortcut");
    context["color"] = json!(15158332);
    context["subject"] = json!({"name": "Fix *it* <@U1>", "url": "https://app.shortcut.com/acme/story/11"});
    context["facts"] =
        json!([{"label": "Type", "value": "bug"}, {"label": "State", "value": "Ready for Review"}]);
    context["timestamp"] = json!("2026-11-25T12:00:00Z");
    let body = |platform| match templates.render(DEFAULT_TEMPLATE, platform, &context.clone().into()).unwrap()
    {
        Draft::Body(body) => serde_json::Value::Object(body),
        Draft::Text(_) => panic!("a JSON layout"),
    };
    let lines =
        "\n• *state*: Unscheduled → Ready for Review\n• *owners*: added Ada\n• *description*: updated";
    let headline =
        "*Ada &lt;!channel&gt;* updated bug <https://app.shortcut.com/acme/story/11|Fix *it* &lt;@U1&gt;>";
    assert_eq!(
        body(ChannelKind::Slack),
        json!({
            "text": headline,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": format!("{headline}{lines}")}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "bug · Ready for Review · by Ada &lt;!channel&gt; via shortcut"}]}
            ]
        })
    );
    assert_eq!(
        body(ChannelKind::Discord),
        json!({"embeds": [{
            "title": "Fix *it* <@U1>",
            "url": "https://app.shortcut.com/acme/story/11",
            "description": "**Ada \\<!channel\\>** updated this bug\n• **state**: Unscheduled → Ready for Review\n• **owners**: added Ada\n• **description**: updated",
            "color": 15158332,
            "fields": [{"name": "Type", "value": "bug", "inline": true}, {"name": "State", "value": "Ready for Review", "inline": true}],
            "footer": {"text": "Ada <!channel> · shortcut"},
            "timestamp": "2026-11-25T12:00:00Z"
        }]})
    );
    let Draft::Text(console) =
        templates.render(DEFAULT_TEMPLATE, ChannelKind::Console, &context.clone().into()).unwrap()
    else {
        panic!("the console default is text");
    };
    assert!(console.starts_with("Ada <!channel> updated bug Fix *it* <@U1> (https://"), "{console}");
}

#[test]
fn a_json_template_writes_the_whole_body_with_values_escaped_inside_strings() {
    let dir = temp_dir("json");
    std::fs::write(
        dir.join("deploy.slack.json.hbs"),
        r#"{"text": "{{name}}", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "{{link url name}}\n{{bold actor.name}}"}}]}"#,
    )
    .unwrap();
    let templates = Templates::load(Some(&dir), "bridge.yaml").unwrap();
    let mut context = state_change();
    context["name"] = json!("Say \"hi\"\n<!here>");
    let Draft::Body(body) = templates.render("deploy", ChannelKind::Slack, &context.clone().into()).unwrap()
    else {
        panic!("json template");
    };
    assert_eq!(body["text"], json!("Say \"hi\"\n&lt;!here&gt;"));
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        json!("<https://app.shortcut.com/acme/story/11|Say \"hi\"\n&lt;!here&gt;>\n*Ada &lt;!channel&gt;*")
    );
    assert!(
        !templates.has("deploy", ChannelKind::Discord),
        "a slack-only template is not offered to discord"
    );
}

#[test]
fn a_directory_template_overrides_the_embedded_one_of_the_same_name() {
    let dir = temp_dir("override");
    std::fs::write(dir.join("default.hbs"), "{{entity}} {{name}} changed").unwrap();
    let templates = Templates::load(Some(&dir), "bridge.yaml").unwrap();
    let draft = templates.render(DEFAULT_TEMPLATE, ChannelKind::Console, &state_change().into()).unwrap();
    assert_eq!(draft, Draft::Text("bug Fix *it* <@U1> changed".into()));
}

#[test]
fn include_renders_the_named_template_in_the_current_scope_and_sees_overrides() {
    let dir = temp_dir("include");
    // The Slack layout includes `headline` (twice, once via `summary`): an
    // override of that one file changes both places.
    std::fs::write(dir.join("headline.hbs"), "{{bold name}} moved").unwrap();
    std::fs::write(dir.join("line.hbs"), "[{{label}}]").unwrap();
    std::fs::write(dir.join("list.hbs"), "{{#each change_list}}{{include \"line\"}}{{/each}}").unwrap();
    let templates = Templates::load(Some(&dir), "bridge.yaml").unwrap();

    let Draft::Body(slack) =
        templates.render(DEFAULT_TEMPLATE, ChannelKind::Slack, &state_change().into()).unwrap()
    else {
        panic!("a JSON layout");
    };
    assert_eq!(slack["text"], "*Fix *it* &lt;@U1&gt;* moved");
    assert!(slack["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .starts_with("*Fix *it* &lt;@U1&gt;* moved\n• *state*"));
    let list = templates.render("list", ChannelKind::Console, &state_change().into()).unwrap();
    assert_eq!(list, Draft::Text("[state][owners][description]".into()));
}

#[test]
fn include_cycles_are_refused_when_templates_load_naming_the_cycle() {
    let dir = temp_dir("include-loop");
    std::fs::write(dir.join("ping.hbs"), "a{{include \"pong\"}}").unwrap();
    std::fs::write(dir.join("pong.hbs"), "b{{include \"ping\"}}").unwrap();
    std::fs::write(dir.join("loop.slack.hbs"), "{{#if name}}{{> loop.slack}}{{/if}}").unwrap();
    let Err(problems) = Templates::load(Some(&dir), "bridge.yaml") else { panic!("loaded") };
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0]
            .ends_with("loop.slack.hbs: `loop.slack` includes itself: it would never finish rendering"),
        "{messages:?}"
    );
    assert!(
        messages[1]
            .ends_with("ping.hbs: include cycle `ping` → `pong` → `ping`: it would never finish rendering"),
        "{messages:?}"
    );
    assert!(messages[0].starts_with("bridge.yaml: templates: "), "{messages:?}");
}

#[test]
fn an_include_named_at_run_time_that_recurses_fails_to_render_instead_of_overflowing_the_stack() {
    let dir = temp_dir("include-computed");
    // `kind` is "update" in this context: a name no load-time check can see.
    std::fs::write(dir.join("update.hbs"), "a{{include kind}}").unwrap();
    let templates = Templates::load(Some(&dir), "bridge.yaml").unwrap();

    let error = templates.render("update", ChannelKind::Console, &state_change().into()).unwrap_err();

    assert!(error.to_string().contains("nested more than 16 deep"), "{error}");
    // The depth count unwinds with the error: the next render starts at zero.
    assert!(templates.render("summary", ChannelKind::Console, &state_change().into()).is_ok());
}

#[test]
fn a_json_template_that_produces_broken_json_is_an_error_naming_the_template() {
    let dir = temp_dir("broken");
    std::fs::write(dir.join("bad.json.hbs"), r#"{"text": "{{name}}",}"#).unwrap();
    let templates = Templates::load(Some(&dir), "bridge.yaml").unwrap();
    let error = templates.render("bad", ChannelKind::Discord, &state_change().into()).unwrap_err();
    assert_eq!(error.template, "bad");
    assert!(error.origin.ends_with("bad.json.hbs"), "{}", error.origin);
    assert!(error.to_string().contains("produced invalid JSON"), "{error}");
}

#[test]
fn a_template_with_a_syntax_error_is_a_config_error_with_its_file_and_line() {
    let dir = temp_dir("syntax");
    std::fs::write(dir.join("oops.hbs"), "line one\n{{#if name}}unclosed").unwrap();
    let Err(problems) = Templates::load(Some(&dir), "bridge.yaml") else {
        panic!("should fail");
    };
    let message = problems[0].to_string();
    assert!(message.starts_with("bridge.yaml: templates: "), "{message}");
    assert!(message.contains("oops.hbs") && message.contains("line 2"), "{message}");
}

/// A card for story 11, after a state change and a comment (newest first).
fn card() -> serde_json::Value {
    let mut moved = state_change();
    moved["timestamp"] = json!("2026-11-25T12:00:00Z");
    let comment = json!({"kind": "comment", "action": "create", "actor": {"name": "Bob"}, "action_text": "commented on"});
    let story = StoryState {
        name: Some("Fix *it* <@U1>".into()),
        url: Some("https://app.shortcut.com/acme/story/11".into()),
        entity: Some("bug".into()),
        story_type: Some("bug".into()),
        state: Some("Ready for Review".into()),
        owners: vec![Named { id: "ada".into(), name: "Ada".into() }],
        updated_by: Some("Bob".into()),
        updated_at: Some("2026-11-25T12:05:00Z".into()),
        ..StoryState::default()
    };
    let mut context = card_context(&story, comment.clone(), vec![comment, moved]);
    context["source"] = json!("shortcut");
    context
}

#[test]
fn the_default_card_shows_the_story_s_state_and_its_latest_messages_newest_first() {
    let templates = Templates::load(None, "bridge.yaml").unwrap();
    let body = |platform| match templates.render(CARD_TEMPLATE, platform, &card().into()).unwrap() {
        Draft::Body(body) => serde_json::Value::Object(body),
        Draft::Text(_) => panic!("a JSON layout"),
    };
    let lines = "💬 Bob commented\n• Ada &lt;!channel&gt; updated it: state Unscheduled → Ready for Review; owners +Ada; description edited · <!date^1795608000^{date_short_pretty} {time}|2026-11-25 12:00 UTC>";
    assert_eq!(
        body(ChannelKind::Slack),
        json!({
            "text": "Fix *it* &lt;@U1&gt;: Ready for Review",
            "blocks": [
                {"type": "section",
                 "text": {"type": "mrkdwn", "text": "*<https://app.shortcut.com/acme/story/11|Fix *it* &lt;@U1&gt;>*"},
                 "fields": [
                    {"type": "mrkdwn", "text": "*State*\nReady for Review"},
                    {"type": "mrkdwn", "text": "*Owners*\nAda"},
                    {"type": "mrkdwn", "text": "*Type*\nbug"}
                 ]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": lines}]}
            ]
        })
    );
    let discord = body(ChannelKind::Discord);
    assert_eq!(discord["embeds"][0]["title"], "Fix *it* <@U1>", "embed titles never ping");
    assert_eq!(discord["embeds"][0]["color"], 0xE74C3C, "a bug, not done");
    assert_eq!(discord["embeds"][0]["fields"][1], json!({"name": "Owners", "value": "Ada", "inline": true}));
    assert_eq!(discord["embeds"][0]["footer"]["text"], "Bob · shortcut");
    assert_eq!(discord["embeds"][0]["timestamp"], "2026-11-25T12:05:00Z");
    let description = discord["embeds"][0]["description"].as_str().unwrap();
    assert!(description.starts_with("💬 Bob commented\n• Ada"), "{description}");
    assert!(description.ends_with("· <t:1795608000:R>"), "{description}");
}

#[test]
fn the_built_in_templates_ask_for_none_of_the_costly_context_keys() {
    let templates = Templates::load(None, "bridge.yaml").unwrap();
    assert_eq!(templates.wanted(), Wanted { payload: false, attributes: false, changes: false });
}
