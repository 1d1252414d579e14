//! The web console: served from the binary with a strict CSP, only where the
//! admin API exists; driven in headless Chromium against the real bridge and a
//! fake sink.

use serde_json::{json, Value};

use crate::support::app::{config_with, spawn, Options};
use crate::support::browser::Browser;
use crate::support::{fixture, FakeSink, Reply};

const TOKEN: &str = "admin-token-0123456789abcdef";
const RULES: &str = "  - name: ready-for-deploy
    when: { entity_type: story, to: { state: Ready for Deploy } }
    send: [deploys]
  - name: reviews
    when: { entity_type: story, to: { state: Ready for Review } }
    send: [deploys, team]
";

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_and_only_where_the_admin_api_exists() {
    let sink = FakeSink::start().await;
    let closed = spawn(&sink.base(), &config_with(RULES), Options::default()).await;
    for path in ["/console", "/console/console.js", "/console/console.css"] {
        assert_eq!(closed.http.get(closed.url(path)).send().await.unwrap().status(), 404, "{path}");
    }
    let app =
        spawn(&sink.base(), &format!("admin_token: \"{TOKEN}\"\n{}", config_with(RULES)), Options::default())
            .await;
    let page = app.http.get(app.url("/console")).send().await.unwrap();
    assert_eq!(page.status(), 200, "the page holds no data: no token needed to load it");
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        page.headers()["content-security-policy"],
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/console/console.js" defer></script>"#));
    assert!(!html.contains(TOKEN));
    let script = app.http.get(app.url("/console/console.js")).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(
        !script.text().await.unwrap().contains("innerHTML"),
        "tracker text is set as text, never as markup"
    );
    // What the page reads needs the token.
    assert_eq!(app.http.get(app.url("/api/sources")).send().await.unwrap().status(), 401);
    let sources: Value =
        app.http.get(app.url("/api/sources")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(
        sources.as_array().unwrap().contains(&json!({"name": "shortcut", "kind": "shortcut"})),
        "{sources}"
    );
}

#[tokio::test]
async fn in_the_browser_an_admin_previews_a_state_change_and_runs_the_queue() {
    let Some(browser) = Browser::start().await else { return };
    let mut sink = FakeSink::start().await;
    // The first message the sink receives (deploys' or team's: they go out
    // together) is refused for good: it goes dead.
    sink.reply_next([Reply::new(400, "invalid_payload")]);
    let app =
        spawn(&sink.base(), &format!("admin_token: \"{TOKEN}\"\n{}", config_with(RULES)), Options::default())
            .await;
    let moved = fixture("shortcut/zulip_story_update_change_state.json");
    assert_eq!(app.post_shortcut(&moved).await.status(), 202);
    app.settled().await;
    let mut first = vec![sink.next().await.path, sink.next().await.path];
    first.sort();
    assert_eq!(first, ["/discord/team", "/slack/deploys"], "both channels were sent it, one refused");

    browser.goto(&app.url("/console")).await;
    browser.type_into("#token", TOKEN).await;
    browser.click("#open").await;
    browser.wait_for_text("#source", "shortcut (shortcut)").await;

    // Try an event: the rules' verdicts and both drawings.
    browser.fill("#source", "shortcut").await;
    browser.fill("#payload", std::str::from_utf8(&moved).unwrap()).await;
    browser.click("#preview").await;
    let unmatched = browser.wait_for_text(r#".verdict[data-rule="ready-for-deploy"]"#, "wanted").await;
    assert_eq!(
        unmatched,
        "ready-for-deploy: to.workflow_state_id: wanted \"Ready for Deploy\", was \"Ready for Review\""
    );
    assert_eq!(browser.wait_for_text(r#".verdict[data-rule="reviews"]"#, "matched").await, "reviews matched");
    let slack =
        browser.wait_for_text(r#".route[data-channel="deploys"] .slack.drawing"#, "Add cool feature!").await;
    assert!(slack.contains("Ready for Review"), "{slack}");
    let discord =
        browser.wait_for_text(r#".route[data-channel="team"] .discord.drawing"#, "Add cool feature!").await;
    assert!(discord.contains("Ready for Review"), "{discord}");
    browser.wait_for_text(r#".route[data-channel="deploys"] a.builder"#, "Block Kit Builder").await;
    assert!(sink.take_all().is_empty(), "a preview sends nothing");

    // Nothing is sent until the admin asks, and then the drawn message is.
    browser.click(r#".route[data-channel="deploys"] button.send"#).await;
    browser.accept_dialog().await;
    let sent = sink.next().await;
    assert_eq!(sent.path, "/slack/deploys");
    assert!(sent.body.to_string().contains("Add cool feature!"), "{}", sent.body);
    browser.wait_for_text(r#".route[data-channel="deploys"] .sent"#, "Sent: delivered").await;

    // Edit a template: both drawings follow as the admin types; a broken one
    // shows its error at its line. Nothing is written.
    browser.fill("#template-file", "details.hbs").await;
    browser.wait_for_text("#template-origin", "<embedded details.hbs>").await;
    let details =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/details.hbs")).unwrap();
    let details = details.trim_end();
    let update = "{{~else if (eq kind \"update\")~}}\n";
    let marked = details.replacen(update, &format!("{update}EDITED "), 1);
    assert_ne!(marked, details);
    browser.fill("#template-text", &marked).await;
    browser.wait_for_text(r#".route[data-channel="deploys"] .slack.drawing"#, "EDITED").await;
    browser.wait_for_text(r#".route[data-channel="team"] .discord.drawing"#, "EDITED").await;
    browser.fill("#template-text", &format!("{marked}\n{{{{#if}}")).await;
    let lines = marked.lines().count();
    let broken = browser.wait_for_text("#template-error", "details.hbs (edited), line").await;
    assert!(broken.starts_with(&format!("details.hbs (edited), line {}", lines + 1)), "{broken}");
    let served = app.http.get(app.url("/api/templates")).bearer_auth(TOKEN).send().await.unwrap();
    let served: Value = served.json().await.unwrap();
    let kept = served.as_array().unwrap().iter().find(|t| t["file"] == "details.hbs").unwrap();
    assert_eq!(kept["text"].as_str().unwrap().trim_end(), details, "the page writes nothing");

    // Tracker text is text: a story named like markup is drawn as its name.
    browser.click("#template-undo").await;
    let hostile = r#"<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>"#;
    let renamed: Value = serde_json::from_slice(&moved).unwrap();
    let mut renamed = renamed;
    renamed["actions"][0]["name"] = json!(hostile);
    renamed["id"] = json!("hostile-name");
    browser.fill("#payload", &renamed.to_string()).await;
    browser.click("#preview").await;
    browser
        .wait_for_text(r#".route[data-channel="team"] .discord.drawing"#, "<script>window.pwned=1</script>")
        .await;
    let injected = browser.eval("return [window.pwned === undefined, document.querySelectorAll('#result script, #result img').length]").await;
    assert_eq!(injected, json!([true, 0]), "nothing from the payload ran or became an element");

    // Run the queue: the dead delivery, replayed from the page, arrives.
    browser.click("#nav-queue").await;
    browser.wait_for_text(r#"#deliveries tr .status"#, "").await;
    browser.wait_for_text(r#"#deliveries tr[data-status="dead"]"#, "reviews").await;
    let dead = browser
        .eval("return document.querySelector('#deliveries tr[data-status=dead] td:nth-child(3)').textContent")
        .await;
    let (dead, path) = match dead.as_str() {
        Some("deploys") => ("deploys", "/slack/deploys"),
        Some("team") => ("team", "/discord/team"),
        other => panic!("the dead delivery's channel: {other:?}"),
    };
    browser.click(r#"#deliveries tr[data-status="dead"] button.attempts"#).await;
    browser.wait_for_text("#deliveries tr[data-attempts-of]", "HTTP 400").await;
    browser.click(&format!(r#"#channels tr[data-channel="{dead}"] button:nth-of-type(2)"#)).await;
    let replayed = sink.next().await;
    assert_eq!(replayed.path, path);
    assert!(replayed.body.to_string().contains("Add cool feature!"));

    // Pause a channel from the page: it shows as paused, and the API agrees.
    browser.click(r#"#channels tr[data-channel="team"] button"#).await;
    let row = browser.wait_for_text(r#"#channels tr[data-channel="team"] .paused"#, "paused").await;
    assert_eq!(row, "paused by admin: paused by an admin");
    let channels: Value =
        app.http.get(app.url("/api/channels")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let team = channels.as_array().unwrap().iter().find(|channel| channel["name"] == "team").unwrap();
    assert_eq!(team["paused"]["by"], "admin");
    browser.quit().await;
}
