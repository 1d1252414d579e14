//! rules → render → compose for one event, readable in one function
//! (`process`): pure, no I/O, no store or HTTP types. The router calls it to
//! queue messages; `preview` and the admin API to show them.

use serde_json::Value;

use crate::normalize::Event;
use crate::render::{context, EventFacts, RenderContext, RenderError, Subject, DEFAULT_TEMPLATE};
use crate::resolve::{resolve, Names};
use crate::rules::matching;
use crate::sinks::compose;
use crate::Bridge;

/// What one rule firing for one change produced for one channel.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Index into `event.changes`.
    pub change: usize,
    pub rule: String,
    pub channel: String,
    /// The template used, as named in the config or the default.
    pub template: String,
    pub outcome: RouteOutcome,
    /// For rules or channels that coalesce: which burst the message joins.
    pub burst: Option<Burst>,
    /// The template context, kept only where delivery renders from it: a
    /// burst's part, the input of a render that failed, or a message about a
    /// story on a channel that threads or keeps cards.
    pub part: Option<Value>,
    /// The story the message is about, on channels that thread.
    pub thread_key: Option<String>,
}

/// A burst: changes to one entity, for one rule and channel, within a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// Channel, rule, source, entity type and id: changes with the same key join.
    pub key: String,
    pub window: std::time::Duration,
}

#[derive(Debug, Clone)]
pub enum RouteOutcome {
    /// The exact JSON body the channel will receive.
    Message(Body),
    /// The template rendered nothing: no message, on purpose.
    Silent,
    Failed(RenderError),
    /// Collected for the channel's digest: drawn with the others when its period is due.
    Collected,
}

/// A message's body as the channel will receive it: serialized as soon as it
/// is composed, since one event can make thousands and the text is what is
/// stored and sent (a JSON value per message held several times the memory).
#[derive(Debug, Clone, PartialEq)]
pub struct Body(String);

impl Body {
    pub fn text(&self) -> &str {
        &self.0
    }

    pub fn into_text(self) -> String {
        self.0
    }

    /// The body as JSON again, for showing it.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.0).expect("serialized from a JSON value")
    }
}

/// Every message `event` produces, in change order, then rule order, then the
/// order of each rule's `send` list, with names from the config and payload.
pub fn route(bridge: &Bridge, event: &Event) -> Vec<Routed> {
    process(bridge, event, &resolve(event, &bridge.directory))
}

/// `route`, with names already resolved (the router adds the tracker API's).
/// Does no I/O.
pub fn process(bridge: &Bridge, event: &Event, names: &Names) -> Vec<Routed> {
    let mut routed = Vec::new();
    let event_facts = EventFacts::of(event);
    for (index, change) in event.changes.iter().enumerate() {
        for rule in matching(&bridge.rules, event, change, names) {
            for channel_name in &rule.send {
                let channel = &bridge.config.channels[channel_name];
                let template =
                    rule.template.as_deref().or(channel.template.as_deref()).unwrap_or(DEFAULT_TEMPLATE);
                let subject = Subject {
                    event,
                    event_facts: &event_facts,
                    change,
                    names,
                    rule: &rule.name,
                    channel: channel_name,
                    mentions: channel.mentions,
                    platform: channel.kind,
                    wanted: bridge.templates.wanted(),
                };
                let context = RenderContext::from(context(&subject));
                if channel.digest.is_some() {
                    let mut part = context.into_data();
                    part["payload"] = Value::Null;
                    routed.push(Routed {
                        change: index,
                        rule: rule.name.clone(),
                        channel: channel_name.clone(),
                        template: crate::render::digest_template(channel).to_owned(),
                        outcome: RouteOutcome::Collected,
                        burst: None,
                        part: Some(part),
                        thread_key: None,
                    });
                    continue;
                }
                let outcome = match render_message(bridge, channel_name, template, &context) {
                    Ok(Some(body)) => RouteOutcome::Message(body),
                    Ok(None) => RouteOutcome::Silent,
                    Err(error) => RouteOutcome::Failed(error),
                };
                let burst = rule.coalesce.or(channel.coalesce.map(|window| window.0)).map(|window| {
                    let entity = change.entity_id.as_deref().unwrap_or("-");
                    let key = format!(
                        "{channel_name}|{}|{}|{}|{entity}",
                        rule.name, event.source, change.entity_type
                    );
                    Burst { key, window }
                });
                let thread_key = channel.by_story().then(|| story_key(event, change)).flatten();
                // Delivery draws a burst, a story's reply and its card from
                // the context when it sends them.
                let drawn_later =
                    burst.is_some() || (thread_key.is_some() && matches!(outcome, RouteOutcome::Message(_)));
                let part = match &outcome {
                    _ if drawn_later => {
                        let mut part = context.into_data();
                        // The raw payload is in the events table; a part needs no copy.
                        part["payload"] = Value::Null;
                        Some(part)
                    }
                    RouteOutcome::Failed(_) => Some(context.into_data()),
                    _ => None,
                };
                routed.push(Routed {
                    thread_key,
                    change: index,
                    rule: rule.name.clone(),
                    channel: channel_name.clone(),
                    template: template.to_owned(),
                    outcome,
                    burst,
                    part,
                });
            }
        }
    }
    routed
}

/// Whether a reply changes a field the channel broadcasts (`broadcast:`,
/// by the bridge's field names or the words messages show, as in rules): the
/// fields of the message's change list, a burst's merged one included.
fn broadcasts(channel: &crate::config::ChannelConfig, context: &Value) -> bool {
    if channel.broadcast.is_empty() {
        return false;
    }
    let wanted: Vec<String> =
        channel.broadcast.iter().flat_map(|name| crate::rules::fields_named(name)).collect();
    context["change_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["field"].as_str())
        .any(|field| wanted.iter().any(|want| want == field))
}

/// The story a change is about, as a thread's key: a comment's or task's
/// parent, else the entity itself (`shortcut:story:11`).
pub fn story_key(event: &Event, change: &crate::normalize::Change) -> Option<String> {
    match &change.parent {
        Some(parent) => Some(format!("{}:{}:{}", event.source, parent.entity_type, parent.id)),
        None => Some(format!("{}:{}:{}", event.source, change.entity_type, change.entity_id.as_deref()?)),
    }
}

/// One message: `template` rendered for `channel` and shaped to its
/// platform; `None` when the template rendered nothing.
pub fn render_message(
    bridge: &Bridge,
    channel_name: &str,
    template: &str,
    context: &RenderContext,
) -> Result<Option<Body>, RenderError> {
    let channel = &bridge.config.channels[channel_name];
    let draft = bridge.templates.render(template, channel.kind, context)?;
    let Some(mut composed) = compose(channel, draft) else { return Ok(None) };
    if !composed.cuts.is_empty() {
        tracing::warn!(channel = %channel_name, template, cuts = ?composed.cuts, "message cut to fit the platform's limits");
    }
    if broadcasts(channel, context.data()) {
        composed.body["reply_broadcast"] = Value::Bool(true);
    }
    Ok(Some(Body(composed.body.to_string())))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;
    use crate::config::{load_str, ConfigOrigin};
    use crate::normalize::{normalize, Normalized};
    use crate::verify::Verified;

    const CONFIG: &str = r#"
sources:
  shortcut: { kind: shortcut, allow_unsigned: true }
  pivotal: { kind: pivotal, allow_unsigned: true }
channels:
  out: { kind: console }
rules:
  - { name: all, when: { primary: true }, send: [out] }
  - { name: moved, when: { primary: false, changed: [workflow_state_id] }, send: [out] }
"#;

    pub(super) fn bridge(yaml: &str) -> Bridge {
        let origin = ConfigOrigin { name: "test.yaml".into(), base_dir: ".".into() };
        Bridge::build(load_str(yaml, &origin, &|_| None).unwrap(), origin).unwrap()
    }

    /// `body` from `source`, normalized.
    pub(super) fn event(bridge: &Bridge, source: &str, body: &[u8]) -> Box<Event> {
        let verified = Verified::local_file(body.to_vec().into());
        let payload = serde_json::from_slice(body).unwrap();
        let source_config = &bridge.config.sources[source];
        let Ok(Normalized::Event(event)) =
            normalize(source, source_config, &HeaderMap::new(), &verified, payload)
        else {
            panic!("normalizes");
        };
        event
    }

    /// The console texts the default template produces for a fixture.
    fn texts(source: &str, fixture: &str) -> Vec<String> {
        let bridge = bridge(CONFIG);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures").join(fixture);
        let event = event(&bridge, source, &std::fs::read(path).unwrap());
        route(&bridge, &event)
            .into_iter()
            .map(|routed| match routed.outcome {
                RouteOutcome::Message(body) => body.json()["text"].as_str().unwrap().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_shortcut_create_lists_what_the_story_starts_with() {
        assert_eq!(
            texts("shortcut", "shortcut/zulip_story_create_in_epic_with_story_link.json"),
            ["✨ Someone created feature An epic story! (https://app.clubhouse.io/zulip/story/23)\n\
              • state: Unscheduled\n• project: Backend\n• epic: New Cool Epic!"]
        );
    }

    #[test]
    fn a_vcs_event_names_the_integration_and_reports_the_state_it_caused() {
        let base = "https://app.clubhouse.io/zulip/story/27";
        assert_eq!(
            texts("shortcut", "shortcut/zulip_vcs_github_branch_create.json"),
            [
                format!(
                    "🔀 GitHub created branch eeshangarg/ch27/testing-pull-requests-with-story \
                     (https://github.com/eeshangarg/scheduler/tree/eeshangarg/ch27/testing-pull-requests-with-story) \
                     for Testing pull requests with Story ({base})"
                ),
                format!(
                    "GitHub updated feature Testing pull requests with Story ({base})\n\
                     • branches: added eeshangarg/ch27/testing-pull-requests-with-story\n\
                     • state: Unscheduled → In Development"
                ),
            ]
        );
    }

    #[test]
    fn a_task_completion_and_an_epic_state_change_read_as_sentences() {
        assert_eq!(
            texts("shortcut", "shortcut/zulip_story_task_complete.json"),
            ["☑️ Someone completed a task on Add cool feature! (https://app.clubhouse.io/zulip/story/11): A new task for this story"]
        );
        assert_eq!(
            texts("shortcut", "shortcut/zulip_epic_update_change_state.json"),
            ["Someone updated epic New Cool Epic!\n• state: to do → in progress"]
        );
    }

    #[test]
    fn a_pivotal_create_shows_no_empty_or_repeated_fields() {
        assert_eq!(
            texts("pivotal", "pivotal/zulip_v5_story_create_bug.json"),
            ["✨ Leo Franchi created bug Story that I created (https://www.pivotaltracker.com/story/show/63495662)\n\
              • state: unscheduled\n• requester: Leo Franchi\n• project: Hard Code\n• description: added"]
        );
    }

    #[test]
    fn a_pivotal_start_uses_the_state_as_the_verb_and_lists_owners_once() {
        assert_eq!(
            texts("pivotal", "pivotal/joshlong_v5_story_started_with_label_counts.json"),
            ["Josh Long started feature Admin can review all order questions and send responses to shoppers \
              (https://www.pivotaltracker.com/story/show/98161134)\n• state: unstarted → started\n• owners: added Josh Long"]
        );
    }
}

#[cfg(test)]
mod limit_tests {
    use serde_json::{json, Value};

    use super::*;

    const CONFIG: &str = r#"
sources:
  shortcut: { kind: shortcut, allow_unsigned: true }
  pivotal: { kind: pivotal, allow_unsigned: true }
channels:
  slack: { kind: slack, url: "https://hooks.slack.com/services/T/B/x" }
  discord: { kind: discord, url: "https://discord.com/api/webhooks/1/x" }
rules:
  - { name: everything, when: {}, send: [slack, discord] }
"#;

    fn bridge() -> Bridge {
        super::tests::bridge(CONFIG)
    }

    fn routes(bridge: &Bridge, source: &str, body: &[u8]) -> Vec<Routed> {
        route(bridge, &super::tests::event(bridge, source, body))
    }

    fn chars(value: &Value) -> usize {
        value.as_str().map_or(0, |text| text.chars().count())
    }

    /// Every limit the platforms document, checked on one body.
    fn assert_within_limits(channel: &str, body: &Value, what: &str) {
        if channel == "slack" {
            assert!(chars(&body["text"]) > 0 && chars(&body["text"]) <= 40_000, "{what}: text");
            let blocks = body["blocks"].as_array().expect("blocks");
            assert!(blocks.len() <= 50, "{what}: blocks");
            for block in blocks {
                let text = block.pointer("/text/text").or_else(|| block.pointer("/elements/0/text")).unwrap();
                assert!(chars(text) > 0 && chars(text) <= 3_000, "{what}: block text {}", chars(text));
            }
        } else {
            let embeds = body["embeds"].as_array().expect("embeds");
            assert!(!embeds.is_empty() && embeds.len() <= 10, "{what}: embeds");
            let mut total = 0;
            for embed in embeds {
                assert!(chars(&embed["title"]) <= 256, "{what}: title");
                assert!(
                    chars(&embed["description"]) > 0 && chars(&embed["description"]) <= 4_096,
                    "{what}: description"
                );
                let fields = embed["fields"].as_array().unwrap();
                assert!(fields.len() <= 25, "{what}: fields");
                for field in fields {
                    assert!((1..=256).contains(&chars(&field["name"])), "{what}: field name");
                    assert!((1..=1_024).contains(&chars(&field["value"])), "{what}: field value");
                    total += chars(&field["name"]) + chars(&field["value"]);
                }
                assert!(chars(&embed["footer"]["text"]) <= 2_048, "{what}: footer");
                total +=
                    chars(&embed["title"]) + chars(&embed["description"]) + chars(&embed["footer"]["text"]);
            }
            assert!(total <= 6_000, "{what}: {total} characters across embeds");
            assert_eq!(body["allowed_mentions"], json!({"parse": []}), "{what}");
        }
    }

    #[test]
    fn every_fixture_renders_within_the_limits_on_slack_and_discord() {
        let bridge = bridge();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
        let mut rendered = 0;
        for source in ["shortcut", "pivotal"] {
            for entry in std::fs::read_dir(root.join(source)).unwrap() {
                let path = entry.unwrap().path();
                let body = std::fs::read(&path).unwrap();
                for routed in routes(&bridge, source, &body) {
                    let what = format!("{} change {} on {}", path.display(), routed.change, routed.channel);
                    match &routed.outcome {
                        RouteOutcome::Message(message) => {
                            assert_within_limits(&routed.channel, &message.json(), &what)
                        }
                        other => panic!("{what}: {other:?}"),
                    }
                    rendered += 1;
                }
            }
        }
        // 47 fixtures, most with one change, some with several, on two channels.
        assert!(rendered >= 140, "only {rendered} messages rendered");
    }

    #[test]
    fn a_five_thousand_character_name_of_mixed_scripts_and_emoji_is_cut_to_fit() {
        let name: String =
            "Ünïcødé 日本語の物語 مرحبا Ελληνικά 🚀🎉👩‍💻 ".chars().cycle().take(5_000).collect();
        let body = json!({
            "id": "long-name", "primary_id": 1,
            "actions": [{
                "id": 1, "entity_type": "story", "action": "update", "name": name, "story_type": "feature",
                "app_url": "https://app.shortcut.com/acme/story/1",
                "description": name,
                "changes": {"description": {"old": name, "new": name}, "workflow_state_id": {"old": 1, "new": 2}}
            }],
            "references": [{"id": 2, "entity_type": "workflow-state", "name": name, "type": "done"}]
        });
        let bridge = bridge();
        let routed = routes(&bridge, "shortcut", body.to_string().as_bytes());
        assert_eq!(routed.len(), 2);
        for route in &routed {
            let RouteOutcome::Message(message) = &route.outcome else { panic!("{:?}", route.outcome) };
            let message = &message.json();
            assert_within_limits(&route.channel, message, &route.channel);
            if route.channel == "slack" {
                let section = message["blocks"][0]["text"]["text"].as_str().unwrap();
                // The link to the story is kept, its label cut, rather than
                // the link and all after it dropped.
                assert!(section.contains("<https://app.shortcut.com/acme/story/1|Ünïcødé"), "{section}");
                assert!(section.ends_with("…>"), "cut with an ellipsis inside the label");
                assert_eq!(section.matches('<').count(), section.matches('>').count(), "{section}");
            }
        }
    }
}

#[cfg(test)]
mod mention_tests {
    use axum::http::HeaderMap;
    use serde_json::json;

    use super::*;
    use crate::config::{load_str, ConfigOrigin};
    use crate::normalize::{normalize, Normalized};
    use crate::verify::Verified;

    #[test]
    fn a_persons_mention_pings_only_where_the_channel_allows_it() {
        let dir = std::env::temp_dir().join(format!("storybridge-mention-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("who.hbs"), "{{{actor.mention}}} / {{mention actor}}").unwrap();
        let yaml = r#"
templates: "."
sources:
  shortcut: { kind: shortcut, allow_unsigned: true }
channels:
  loud: { kind: discord, url: "https://discord.com/api/webhooks/1/x", mentions: true, template: who }
  quiet: { kind: slack, url: "https://hooks.slack.com/services/T/B/x", template: who }
people:
  u1: { name: "Ada <!channel>", slack: U024ADA, discord: "42" }
rules:
  - { name: all, when: {}, send: [loud, quiet] }
"#;
        let origin = ConfigOrigin { name: "t.yaml".into(), base_dir: dir };
        let bridge = Bridge::build(load_str(yaml, &origin, &|_| None).unwrap(), origin).unwrap();
        let body =
            br#"{"id":"e","member_id":"u1","actions":[{"id":1,"entity_type":"story","action":"update"}]}"#;
        let verified = Verified::local_file(body.to_vec().into());
        let source = &bridge.config.sources["shortcut"];
        let payload = serde_json::from_slice(body).unwrap();
        let Ok(Normalized::Event(event)) =
            normalize("shortcut", source, &HeaderMap::new(), &verified, payload)
        else {
            panic!("normalizes");
        };
        let bodies: Vec<Value> = route(&bridge, &event)
            .into_iter()
            .map(|r| match r.outcome {
                RouteOutcome::Message(body) => body.json(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(bodies[0]["content"], json!("<@42> / <@42>"));
        assert_eq!(bodies[0]["allowed_mentions"], json!({"parse": [], "users": ["42"]}));
        assert_eq!(
            bodies[1]["text"],
            json!("Ada &lt;!channel&gt; / Ada &lt;!channel&gt;"),
            "no mentions on quiet"
        );
    }
}
