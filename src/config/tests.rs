use super::*;

fn load(yaml: &str) -> Result<Config, ConfigErrors> {
    load_str(yaml, &ConfigOrigin { name: "bridge.yaml".into(), base_dir: ".".into() }, &|name| match name {
        "SHORTCUT_WEBHOOK_SECRET" => Some("shortcut-secret".into()),
        "PIVOTAL_WEBHOOK_TOKEN" => Some("pivotal-token".into()),
        "CLUBMED_WEBHOOK_SECRET" => Some("clubmed-secret".into()),
        "SLACK_DEPLOYS_URL" => Some("https://hooks.slack.com/services/T0/B0/xyz".into()),
        "DISCORD_TEAM_URL" => Some("https://discord.com/api/webhooks/1/abc".into()),
        _ => None,
    })
}

/// A channel, for configs that test something else.
const ANY_CHANNEL: &str = "channels:\n  out: { kind: console }\n";

fn errors(yaml: &str) -> String {
    load(yaml).expect_err("config should be refused").to_string()
}

/// The configuration from the issue that defines the contract.
const CONTRACT: &str = r#"
listen: "127.0.0.1:8080"
sources:
  shortcut:
    kind: shortcut
    secrets: ["${SHORTCUT_WEBHOOK_SECRET}", "previous-secret"]
  tracker:
    kind: pivotal
    token: "${PIVOTAL_WEBHOOK_TOKEN}"
  clubmed:
    kind: generic
    signature: { header: X-Clubmed-Signature, prefix: "sha256=" }
    secrets: ["${CLUBMED_WEBHOOK_SECRET}"]
channels:
  deploys: { kind: slack,   url: "${SLACK_DEPLOYS_URL}" }
  team:    { kind: discord, url: "${DISCORD_TEAM_URL}", username: "Story Bot" }
rules:
  - name: ready-for-deploy
    when:
      source: shortcut
      entity_type: story
      action: update
      changed: [workflow_state_id]
      to: { workflow_state_id: "Ready for Deploy" }
    send: [deploys, team]
  - name: comments
    when: { entity_type: story-comment, action: create }
    send: [team]
    template: comment
"#;

#[test]
fn the_contract_config_loads_with_secrets_from_the_environment() {
    let config = load(CONTRACT).expect("loads");
    let SourceConfig::Shortcut(shortcut) = &config.sources["shortcut"] else { panic!("kind") };
    assert_eq!(shortcut.secrets[0].expose(), "shortcut-secret");
    assert_eq!(shortcut.secrets[1].expose(), "previous-secret");
    assert_eq!(config.channels["team"].username.as_deref(), Some("Story Bot"));
    assert_eq!(config.rules[0].when.to.as_ref().unwrap()["workflow_state_id"].0, ["Ready for Deploy"]);
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn the_bundled_config_loads_with_no_environment() {
    let config = load_str(EMBEDDED_CONFIG, &ConfigOrigin::embedded(), &|_| None).expect("loads");
    assert!(config.channels.contains_key("console"));
}

#[test]
fn an_unset_variable_names_the_variable_and_the_key() {
    let yaml = CONTRACT.replace("${PIVOTAL_WEBHOOK_TOKEN}", "${PIVOTAL_TOKEN_TYPO}");
    assert_eq!(
        errors(&yaml),
        "bridge.yaml: sources.tracker.token: environment variable PIVOTAL_TOKEN_TYPO is not set \
         (write ${PIVOTAL_TOKEN_TYPO:-default} to give a default)"
    );
}

#[test]
fn an_unknown_key_lists_the_keys_allowed_there() {
    let yaml = CONTRACT.replace("username: \"Story Bot\"", "user_name: \"Story Bot\"");
    assert_eq!(
        errors(&yaml),
        "bridge.yaml: channels.team.user_name: unknown key, expected one of `kind`, `url`, `token`, `channel`, \
         `api_url`, `thread`, `update`, `forum`, `broadcast`, `template`, `thread_template`, `card_template`, `username`, `avatar_url`, `mentions`, `rate_limit`, `coalesce`, `digest`"
    );
}

#[test]
fn a_rule_sending_to_an_unknown_channel_says_which_exist() {
    let yaml = CONTRACT.replace("send: [deploys, team]", "send: [deploys, tem]");
    assert_eq!(errors(&yaml), "bridge.yaml: rules[0].send[1]: unknown channel `tem` (known: deploys, team)");
}

#[test]
fn a_source_without_secrets_is_refused_unless_it_allows_unsigned() {
    let yaml = &format!("sources:\n  sc: {{ kind: shortcut }}\n{ANY_CHANNEL}");
    assert_eq!(
        errors(yaml),
        "bridge.yaml: sources.sc.secrets: missing: give at least one secret to verify signatures with \
         (or set allow_unsigned: true)"
    );
    assert!(
        load(&format!("sources:\n  sc: {{ kind: shortcut, allow_unsigned: true }}\n{ANY_CHANNEL}")).is_ok()
    );
    assert!(errors(&format!("sources:\n  pt: {{ kind: pivotal }}\n{ANY_CHANNEL}"))
        .starts_with("bridge.yaml: sources.pt.token: missing"));
}

#[test]
fn duplicate_names_are_refused() {
    let yaml = CONTRACT.replace("name: comments", "name: ready-for-deploy");
    assert_eq!(errors(&yaml), "bridge.yaml: rules[1].name: duplicate rule name `ready-for-deploy`");
    let yaml = CONTRACT.replace("  team:    {", "  deploys: {");
    // The last `deploys` is the one kept: the rules sending to `team` are
    // reported in the same pass.
    assert_eq!(
        errors(&yaml),
        "bridge.yaml: channels: duplicate key \"deploys\": each name may appear once\n\
         bridge.yaml: rules[0].send[1]: unknown channel `team` (known: deploys)\n\
         bridge.yaml: rules[1].send[0]: unknown channel `team` (known: deploys)"
    );
}

#[test]
fn errors_never_quote_a_secret() {
    // A secret in the wrong place makes serde quote the value; the message must not.
    let yaml =
        CONTRACT.replace("token: \"${PIVOTAL_WEBHOOK_TOKEN}\"", "token: [\"${PIVOTAL_WEBHOOK_TOKEN}\"]");
    let message = errors(&yaml);
    assert!(!message.contains("pivotal-token"), "{message}");
    let yaml = CONTRACT.replace("${SLACK_DEPLOYS_URL}", "git+${SLACK_DEPLOYS_URL}");
    let message = errors(&yaml);
    assert_eq!(message, "bridge.yaml: channels.deploys.url: is not an http(s) URL");
    assert!(!message.contains("hooks.slack.com"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml =
        CONTRACT.replace("send: [deploys, team]", "send: [nowhere]").replace("send: [team]", "send: []");
    let message = errors(&yaml);
    assert_eq!(message.lines().count(), 2, "{message}");
}

#[test]
fn a_numeric_name_key_reads_as_text() {
    let config =
        load(&format!("names:\n  workflow-state:\n    500000010: Ready for Deploy\n{CONTRACT}")).unwrap();
    assert_eq!(config.names["workflow-state"]["500000010"], "Ready for Deploy");
}

#[test]
fn the_memory_limits_must_leave_room_for_one_whole_body() {
    assert_eq!(
        errors(&format!(
            "max_body_bytes: 2097152\nmax_body_bytes_in_flight: 1048576\nmax_connections: 0\nidle_timeout: 0s\n{CONTRACT}"
        )),
        "bridge.yaml: idle_timeout: must be between 100ms and 1h\n\
         bridge.yaml: max_body_bytes_in_flight: must be at least max_body_bytes (2097152), or a body of that size could never be read\n\
         bridge.yaml: max_connections: must be greater than 0"
    );
}

#[test]
fn an_api_timeout_outside_its_range_is_refused_with_the_range() {
    for timeout in ["0s", "5m"] {
        let yaml =
            format!("sources:\n  sc: {{ kind: shortcut, allow_unsigned: true, api_timeout: {timeout} }}\n{ANY_CHANNEL}");
        assert_eq!(
            errors(&yaml),
            "bridge.yaml: sources.sc.api_timeout: must be between 10ms and 60s",
            "{timeout}"
        );
    }
    let yaml =
        format!("sources:\n  sc: {{ kind: shortcut, allow_unsigned: true, api_timeout: 2s }}\n{ANY_CHANNEL}");
    let config = load(&yaml).unwrap();
    assert_eq!(config.sources["sc"].api_timeout(), std::time::Duration::from_secs(2));
}

#[test]
fn an_empty_config_is_refused_not_served() {
    for yaml in ["", "# nothing here yet\n", "{}"] {
        assert_eq!(
            errors(yaml),
            "bridge.yaml: sources: none configured: every webhook would be answered 404 (an empty or comments-only file configures nothing)\n\
             bridge.yaml: channels: none configured: no message could be sent anywhere",
            "{yaml:?}"
        );
    }
}

#[test]
fn durations_no_one_means_are_refused_with_their_range() {
    let yaml = format!(
        "max_age: 200000000000d\nretention: 0s\nbody_timeout: 2h\n{CONTRACT}\n\
         \x20 - {{ name: burst, when: {{}}, send: [team], coalesce: 2d }}\n"
    );
    assert_eq!(
        errors(&yaml),
        "bridge.yaml: rules[2].coalesce: must be between 100ms and 1d\n\
         bridge.yaml: max_age: must be between 1s and 30d\n\
         bridge.yaml: retention: must be between 1m and 3650d\n\
         bridge.yaml: body_timeout: must be between 100ms and 1h"
    );
}

#[test]
fn a_duplicate_key_an_unset_variable_and_cross_key_mistakes_are_reported_in_one_pass() {
    let yaml = format!("max_age: 0s\n{CONTRACT}\n  - {{ name: again, when: {{}}, send: [tem] }}\n")
        .replace("${SLACK_DEPLOYS_URL}", "${UNSET_URL}")
        .replace("channels:\n", "channels:\n  extra: { kind: console }\n  extra: { kind: console }\n");
    assert_eq!(
        errors(&yaml),
        "bridge.yaml: channels: duplicate key \"extra\": each name may appear once\n\
         bridge.yaml: channels.deploys.url: environment variable UNSET_URL is not set (write ${UNSET_URL:-default} to give a default)\n\
         bridge.yaml: rules[2].send[0]: unknown channel `tem` (known: deploys, extra, team)\n\
         bridge.yaml: max_age: must be between 1s and 30d",
        "four mistakes, four reports; nothing more about the unset URL"
    );
}

#[test]
fn every_tracker_kind_needs_its_credential_and_says_which() {
    for kind in ["github", "linear", "jira"] {
        assert_eq!(
            errors(&format!("sources:\n  t: {{ kind: {kind} }}\n{ANY_CHANNEL}")),
            "bridge.yaml: sources.t.secrets: missing: give at least one secret to verify signatures with \
             (or set allow_unsigned: true)",
            "{kind}"
        );
        assert!(load(&format!("sources:\n  t: {{ kind: {kind}, secrets: [s] }}\n{ANY_CHANNEL}")).is_ok());
    }
    assert!(errors(&format!("sources:\n  gl: {{ kind: gitlab }}\n{ANY_CHANNEL}")).starts_with(
        "bridge.yaml: sources.gl.token: missing: give the secret token set on the GitLab webhook"
    ));
    assert_eq!(
        errors(&format!("sources:\n  gl: {{ kind: gitlab, token: t, tokens: [\"\"] }}\n{ANY_CHANNEL}")),
        "bridge.yaml: sources.gl.tokens[0]: is empty (is its environment variable set to an empty value?)"
    );
    assert!(load(&format!("sources:\n  gl: {{ kind: gitlab, tokens: [a, b] }}\n{ANY_CHANNEL}")).is_ok());
    assert!(errors(&format!("sources:\n  gh: {{ kind: github, secret: s }}\n{ANY_CHANNEL}"))
        .contains("sources.gh.secret: unknown key"));
}

#[test]
fn a_generic_field_takes_a_pointer_or_a_list_and_each_is_checked() {
    let source = |name: &str| {
        format!("sources:\n  g: {{ kind: generic, allow_unsigned: true, fields: {{ name: {name} }} }}\n{ANY_CHANNEL}")
    };
    assert!(load(&source("/title")).is_ok());
    assert!(load(&source("[/issue/title, /pull_request/title]")).is_ok());
    assert!(errors(&source("[/issue/title, title]")).starts_with("bridge.yaml: sources.g.fields.name[1]:"));
    assert!(errors(&source("[]")).contains("give at least one JSON pointer"));
}

#[test]
fn a_slack_bot_needs_a_token_and_a_channel_and_takes_no_webhook_url() {
    const SOURCE: &str = "sources:\n  s: { kind: shortcut, allow_unsigned: true }\n";
    let channel = |settings: &str| format!("{SOURCE}channels:\n  team: {{ kind: slack-bot, {settings} }}\n");
    assert!(load(&channel("token: xoxb-1, channel: C0123456789")).is_ok());
    let found = errors(&channel("url: \"https://hooks.slack.com/services/T/B/x\""));
    for expected in [
        "bridge.yaml: channels.team.url: a slack-bot channel posts with `token` and `channel`",
        "bridge.yaml: channels.team.token: missing: the bot's token",
        "bridge.yaml: channels.team.channel: missing",
    ] {
        assert!(found.contains(expected), "{found}");
    }
    let webhook = "{ kind: slack, url: \"https://hooks.slack.com/services/T/B/x\", token: t }";
    assert_eq!(
        errors(&format!("{SOURCE}channels:\n  team: {webhook}\n")),
        "bridge.yaml: channels.team.token: only `kind: slack-bot` channels take `token`"
    );
}

#[test]
fn only_a_slack_bot_can_thread() {
    const SOURCE: &str = "sources:\n  s: { kind: shortcut, allow_unsigned: true }\n";
    let webhook = "{ kind: slack, url: \"https://hooks.slack.com/services/T/B/x\", thread: per-story }";
    assert!(errors(&format!("{SOURCE}channels:\n  team: {webhook}\n"))
        .starts_with("bridge.yaml: channels.team.thread: threads need `kind: slack-bot`"));
    let bot = "{ kind: slack-bot, token: t, channel: C1, thread: per-story }";
    assert!(load(&format!("{SOURCE}channels:\n  team: {bot}\n")).is_ok());
    assert!(errors(&format!(
        "{SOURCE}channels:\n  team: {{ kind: slack-bot, token: t, channel: C1, thread: per-epic }}\n"
    ))
    .contains("channels.team.thread"));
}

#[test]
fn editing_in_place_and_forum_threads_need_a_platform_that_can_do_them() {
    const SOURCE: &str = "sources:\n  s: { kind: shortcut, allow_unsigned: true }\n";
    let webhook = "{ kind: slack, url: \"https://hooks.slack.com/services/T/B/x\", update: in-place }";
    assert!(errors(&format!("{SOURCE}channels:\n  team: {webhook}\n"))
        .starts_with("bridge.yaml: channels.team.update: editing in place needs `kind: slack-bot`"));
    let discord = "{ kind: discord, url: \"https://discord.com/api/webhooks/1/x\", update: in-place }";
    assert!(load(&format!("{SOURCE}channels:\n  team: {discord}\n")).is_ok());
    let not_a_forum = "{ kind: discord, url: \"https://discord.com/api/webhooks/1/x\", thread: per-story }";
    let found = errors(&format!("{SOURCE}channels:\n  team: {not_a_forum}\n"));
    assert!(
        found.contains("channels.team.thread: Discord webhooks open threads only in forum channels")
            && found.contains("update: in-place"),
        "{found}"
    );
    let forum =
        "{ kind: discord, url: \"https://discord.com/api/webhooks/1/x\", forum: true, thread: per-story }";
    assert!(load(&format!("{SOURCE}channels:\n  team: {forum}\n")).is_ok());
    let bot = "{ kind: slack-bot, token: t, channel: C1, update: in-place, thread: per-story }";
    assert!(load(&format!("{SOURCE}channels:\n  team: {bot}\n")).is_ok());
}

#[test]
fn broadcasting_needs_a_threaded_slack_bot() {
    const SOURCE: &str = "sources:\n  s: { kind: shortcut, allow_unsigned: true }\n";
    let unthreaded = "{ kind: slack-bot, token: t, channel: C1, broadcast: [state] }";
    assert_eq!(
        errors(&format!("{SOURCE}channels:\n  team: {unthreaded}\n")),
        "bridge.yaml: channels.team.broadcast: broadcasting replies needs `kind: slack-bot` with `thread: per-story`"
    );
    let threaded = "{ kind: slack-bot, token: t, channel: C1, thread: per-story, broadcast: [state] }";
    assert!(load(&format!("{SOURCE}channels:\n  team: {threaded}\n")).is_ok());
}

#[test]
fn a_forum_needs_threads_and_reply_and_card_templates_need_what_they_draw() {
    const SOURCE: &str = "sources:\n  s: { kind: shortcut, allow_unsigned: true }\n";
    let forum = "{ kind: discord, url: \"https://discord.com/api/webhooks/1/x\", forum: true }";
    assert_eq!(
        errors(&format!("{SOURCE}channels:\n  team: {forum}\n")),
        "bridge.yaml: channels.team.forum: every message to a forum must open or join a post: add `thread: per-story` (one post per story)"
    );
    let reply = "{ kind: slack-bot, token: t, channel: C1, update: in-place, thread_template: short }";
    assert_eq!(
        errors(&format!("{SOURCE}channels:\n  team: {reply}\n")),
        "bridge.yaml: channels.team.thread_template: draws replies in a story's thread: set `thread: per-story` too"
    );
    let card = "{ kind: slack-bot, token: t, channel: C1, thread: per-story, card_template: mine }";
    assert_eq!(
        errors(&format!("{SOURCE}channels:\n  team: {card}\n")),
        "bridge.yaml: channels.team.card_template: draws a story's live card: set `update: in-place` too"
    );
}

#[test]
fn storage_is_a_sqlite_file_or_a_postgres_url_and_a_bad_one_says_what_is_wrong() {
    let with = |storage: &str| format!("storage: \"{storage}\"\n{CONTRACT}");
    assert_eq!(
        load(&with("postgres://bridge@db.internal:5432/bridge?sslmode=verify-full")).unwrap().storage,
        "postgres://bridge@db.internal:5432/bridge?sslmode=verify-full"
    );
    assert!(load(&with("postgresql://bridge@db.internal/bridge")).is_ok());
    assert!(load(&with("sqlite://bridge.db")).is_ok());
    assert_eq!(
        errors(&with("postgres://bridge@db/bridge?sslmode=always")),
        "bridge.yaml: storage: sslmode `always` is not one of disable, allow, prefer, require, verify-ca, verify-full"
    );
    assert_eq!(
        errors(&with("mysql://bridge@db/bridge")),
        "bridge.yaml: storage: expected sqlite://FILE, postgres://USER@HOST:PORT/DATABASE (or sqlite::memory: for tests)"
    );
}
