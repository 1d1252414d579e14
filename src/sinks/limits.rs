//! Platform limits, enforced on every body after rendering, whatever a template
//! produced: Slack and Discord refuse (or silently cut) what is too long, and a
//! refused message is a lost one. Lengths count characters (Unicode scalar
//! values), as the platforms do, not bytes.

use serde_json::{Map, Value};

/// Slack: top-level `text` 40,000; section/context text 3,000; section fields 10
/// of 2,000; header 150; 50 blocks.
const SLACK_TEXT: usize = 40_000;
const SLACK_SECTION_TEXT: usize = 3_000;
const SLACK_FIELD: usize = 2_000;
const SLACK_FIELDS: usize = 10;
const SLACK_HEADER: usize = 150;
const SLACK_BLOCKS: usize = 50;

/// Discord: content 2,000; 10 embeds; title 256, description 4,096, 25 fields of
/// 256 / 1,024, footer 2,048, author 256; 6,000 across all embeds.
const DISCORD_CONTENT: usize = 2_000;
const DISCORD_EMBEDS: usize = 10;
const DISCORD_TITLE: usize = 256;
const DISCORD_DESCRIPTION: usize = 4_096;
const DISCORD_FIELDS: usize = 25;
const DISCORD_FIELD_NAME: usize = 256;
const DISCORD_FIELD_VALUE: usize = 1_024;
const DISCORD_FOOTER: usize = 2_048;
const DISCORD_AUTHOR: usize = 256;
const DISCORD_TOTAL: usize = 6_000;

#[derive(Clone, Copy)]
enum Links {
    /// `<url|label>`
    Slack,
    /// `[label](url)`
    Markdown,
    None,
}

/// Fits a Slack body; returns what was cut, for a warning.
pub fn fit_slack(body: &mut Value) -> Vec<String> {
    let mut cuts = Vec::new();
    let Some(object) = body.as_object_mut() else { return cuts };
    fit_string(object, "text", SLACK_TEXT, Links::Slack, "text", &mut cuts);
    if let Some(Value::Array(blocks)) = object.get_mut("blocks") {
        if blocks.len() > SLACK_BLOCKS {
            cuts.push(format!("blocks: {} → {SLACK_BLOCKS}", blocks.len()));
            blocks.truncate(SLACK_BLOCKS);
        }
        for (index, block) in blocks.iter_mut().enumerate() {
            fit_slack_block(block, index, &mut cuts);
        }
    }
    cuts
}

fn fit_slack_block(block: &mut Value, index: usize, cuts: &mut Vec<String>) {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(block) = block.as_object_mut() else { return };
    let limit = if kind == "header" { SLACK_HEADER } else { SLACK_SECTION_TEXT };
    if let Some(Value::Object(text)) = block.get_mut("text") {
        fit_string(text, "text", limit, Links::Slack, &format!("blocks[{index}].text"), cuts);
    }
    if let Some(Value::Array(fields)) = block.get_mut("fields") {
        if fields.len() > SLACK_FIELDS {
            cuts.push(format!("blocks[{index}].fields: {} → {SLACK_FIELDS}", fields.len()));
            fields.truncate(SLACK_FIELDS);
        }
        for (position, field) in fields.iter_mut().filter_map(Value::as_object_mut).enumerate() {
            let path = format!("blocks[{index}].fields[{position}]");
            fit_string(field, "text", SLACK_FIELD, Links::Slack, &path, cuts);
        }
    }
    if let Some(Value::Array(elements)) = block.get_mut("elements") {
        for (position, element) in elements.iter_mut().filter_map(Value::as_object_mut).enumerate() {
            let path = format!("blocks[{index}].elements[{position}]");
            fit_string(element, "text", SLACK_SECTION_TEXT, Links::Slack, &path, cuts);
        }
    }
}

/// Fits a Discord body; returns what was cut, for a warning.
pub fn fit_discord(body: &mut Value) -> Vec<String> {
    let mut cuts = Vec::new();
    let Some(object) = body.as_object_mut() else { return cuts };
    fit_string(object, "content", DISCORD_CONTENT, Links::Markdown, "content", &mut cuts);
    let Some(Value::Array(embeds)) = object.get_mut("embeds") else { return cuts };
    if embeds.len() > DISCORD_EMBEDS {
        cuts.push(format!("embeds: {} → {DISCORD_EMBEDS}", embeds.len()));
        embeds.truncate(DISCORD_EMBEDS);
    }
    for (index, embed) in embeds.iter_mut().filter_map(Value::as_object_mut).enumerate() {
        fit_embed(embed, index, &mut cuts);
    }
    // The 6,000-character budget across embeds: shorten the longest descriptions.
    while total(embeds) > DISCORD_TOTAL {
        let excess = total(embeds) - DISCORD_TOTAL;
        let longest = embeds
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .max_by_key(|embed| chars(embed.get("description")))
            .filter(|embed| chars(embed.get("description")) > 1);
        let Some(embed) = longest else { break };
        let limit = chars(embed.get("description")).saturating_sub(excess).max(1);
        fit_string(embed, "description", limit, Links::Markdown, "embeds total", &mut cuts);
    }
    cuts
}

fn fit_embed(embed: &mut Map<String, Value>, index: usize, cuts: &mut Vec<String>) {
    let path = |key: &str| format!("embeds[{index}].{key}");
    fit_string(embed, "title", DISCORD_TITLE, Links::None, &path("title"), cuts);
    fit_string(embed, "description", DISCORD_DESCRIPTION, Links::Markdown, &path("description"), cuts);
    for (key, limit) in [("footer", DISCORD_FOOTER), ("author", DISCORD_AUTHOR)] {
        let field = if key == "footer" { "text" } else { "name" };
        if let Some(Value::Object(part)) = embed.get_mut(key) {
            fit_string(part, field, limit, Links::None, &path(key), cuts);
        }
    }
    if let Some(Value::Array(fields)) = embed.get_mut("fields") {
        if fields.len() > DISCORD_FIELDS {
            cuts.push(format!("{}: {} → {DISCORD_FIELDS}", path("fields"), fields.len()));
            fields.truncate(DISCORD_FIELDS);
        }
        for field in fields.iter_mut().filter_map(Value::as_object_mut) {
            fit_string(field, "name", DISCORD_FIELD_NAME, Links::None, &path("fields[].name"), cuts);
            fit_string(field, "value", DISCORD_FIELD_VALUE, Links::Markdown, &path("fields[].value"), cuts);
            // Discord refuses empty field names and values (400).
            for key in ["name", "value"] {
                if field.get(key).and_then(Value::as_str).is_none_or(|text| text.trim().is_empty()) {
                    field.insert(key.into(), Value::String("\u{2014}".into()));
                }
            }
        }
    }
}

/// The characters Discord counts toward its 6,000 budget.
fn total(embeds: &[Value]) -> usize {
    embeds
        .iter()
        .map(|embed| {
            let fields: usize = embed
                .get("fields")
                .and_then(Value::as_array)
                .map(|fields| fields.iter().map(|f| chars(f.get("name")) + chars(f.get("value"))).sum())
                .unwrap_or(0);
            chars(embed.get("title"))
                + chars(embed.get("description"))
                + chars(embed.pointer("/footer/text"))
                + chars(embed.pointer("/author/name"))
                + fields
        })
        .sum()
}

fn chars(value: Option<&Value>) -> usize {
    value.and_then(Value::as_str).map_or(0, |text| text.chars().count())
}

fn fit_string(
    object: &mut Map<String, Value>,
    key: &str,
    limit: usize,
    links: Links,
    path: &str,
    cuts: &mut Vec<String>,
) {
    let Some(Value::String(text)) = object.get_mut(key) else { return };
    let length = text.chars().count();
    if length > limit {
        *text = truncate_keeping_links(text, limit, links);
        cuts.push(format!("{path}: {length} → {} characters", text.chars().count()));
    }
}

/// At most `limit` characters, ending in `…`, never ending inside a link: a cut
/// that would split one moves to before it, so every link left works.
fn truncate_keeping_links(text: &str, limit: usize, links: Links) -> String {
    let keep = limit.saturating_sub(1);
    let mut cut = text.char_indices().nth(keep).map_or(text.len(), |(byte, _)| byte);
    let prefix = &text[..cut];
    match links {
        Links::Slack => {
            // The first `<` not closed before the cut starts the link it would split.
            let mut open = None;
            for (index, c) in prefix.char_indices() {
                match c {
                    '<' if open.is_none() => open = Some(index),
                    '>' => open = None,
                    _ => {}
                }
            }
            if let Some(open) = open {
                if let Some(kept) = shorten_slack_link(text, open, limit) {
                    return kept;
                }
                cut = open;
            }
        }
        Links::Markdown => {
            if let Some(open) = unescaped_rfind(prefix, '[') {
                let rest = &text[open..];
                let link_end = rest
                    .find("](")
                    .and_then(|middle| rest[middle..].find(')').map(|end| open + middle + end + 1));
                if link_end.is_some_and(|end| end > cut) {
                    if let Some(kept) = shorten_markdown_link(text, open, limit) {
                        return kept;
                    }
                    cut = open;
                }
            }
        }
        Links::None => {}
    }
    let mut truncated = text[..cut].trim_end().to_owned();
    truncated.push('…');
    truncated
}

/// The last `needle` not escaped with a backslash (Discord's `\[` is not a link).
/// `text` up to the Slack link at `open`, that link kept with its label cut
/// (`<url|label…>`) to end the text within `limit`: a long story name keeps
/// its link rather than losing it and all that follows. `None` when even the
/// URL does not fit.
fn shorten_slack_link(text: &str, open: usize, limit: usize) -> Option<String> {
    let rest = &text[open..];
    let inner = &rest[1..rest.find('>')?];
    let (url, label) = inner.split_once('|')?;
    let before = &text[..open];
    let room = limit.checked_sub(before.chars().count() + url.chars().count() + 4)?;
    let mut label: String = label.chars().take(room).collect();
    // Never end inside an escape (`&amp;`): the platform would show its pieces.
    if let Some(entity) = label.rfind('&').filter(|at| !label[*at..].contains(';')) {
        label.truncate(entity);
    }
    let label = label.trim_end();
    (!label.is_empty()).then(|| format!("{before}<{url}|{label}…>"))
}

/// As `shorten_slack_link`, for `[label](url)`.
fn shorten_markdown_link(text: &str, open: usize, limit: usize) -> Option<String> {
    let rest = &text[open..];
    let middle = rest.find("](")?;
    let url = &rest[middle + 2..middle + 2 + rest[middle + 2..].find(')')?];
    let before = &text[..open];
    let room = limit.checked_sub(before.chars().count() + url.chars().count() + 5)?;
    let label: String = rest[1..middle].chars().take(room).collect();
    let label = label.trim_end().trim_end_matches('\\');
    (!label.is_empty()).then(|| format!("{before}[{label}…]({url})"))
}

fn unescaped_rfind(text: &str, needle: char) -> Option<usize> {
    text.char_indices()
        .rev()
        .find(|&(index, c)| c == needle && !text[..index].ends_with('\\'))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_cut_never_splits_a_slack_link() {
        let text = format!("{} <https://x.test/s/1|a story> tail", "a".repeat(20));
        assert_eq!(truncate_keeping_links(&text, 30, Links::Slack), format!("{}…", "a".repeat(20)));
        assert_eq!(
            truncate_keeping_links(&text, 52, Links::Slack),
            format!("{} <https://x.test/s/1|a story> t…", "a".repeat(20))
        );
    }

    #[test]
    fn a_link_too_long_to_keep_whole_keeps_its_url_with_a_shorter_label() {
        let name = "a very long story name ".repeat(10);
        let slack = format!("*Ada* updated <https://x.test/s/1|{name}> and more");
        let cut = truncate_keeping_links(&slack, 60, Links::Slack);
        assert_eq!(cut, "*Ada* updated <https://x.test/s/1|a very long story name a…>");
        assert!(cut.chars().count() <= 60);
        let escaped = format!("<https://x.test/s/1|R&amp;D {name}>");
        assert_eq!(truncate_keeping_links(&escaped, 26, Links::Slack), "<https://x.test/s/1|R…>");
        let markdown = format!("**Ada** updated [{name}](https://x.test/s/1) and more");
        let cut = truncate_keeping_links(&markdown, 60, Links::Markdown);
        assert_eq!(cut, "**Ada** updated [a very long story nam…](https://x.test/s/1)");
        assert!(cut.chars().count() <= 60);
    }

    #[test]
    fn a_cut_inside_a_link_goes_before_its_first_unclosed_bracket() {
        assert_eq!(truncate_keeping_links("<https://x<test/a| >", 12, Links::Slack), "…");
        assert_eq!(
            truncate_keeping_links("ok <a|b> <https://x.test/long|label>", 20, Links::Slack),
            "ok <a|b>…"
        );
    }

    #[test]
    fn a_cut_never_splits_a_markdown_link_but_ignores_escaped_brackets() {
        let text = "see [the story](https://x.test/s/1) now";
        assert_eq!(truncate_keeping_links(text, 12, Links::Markdown), "see…");
        assert_eq!(
            truncate_keeping_links("\\[not a link\\] and more text", 10, Links::Markdown),
            "\\[not a l…"
        );
    }

    #[test]
    fn cuts_count_characters_and_keep_them_whole() {
        let text = "🎉".repeat(10);
        let cut = truncate_keeping_links(&text, 5, Links::None);
        assert_eq!(cut, "🎉🎉🎉🎉…");
        assert_eq!(cut.chars().count(), 5);
    }

    #[test]
    fn discord_bodies_fit_every_limit_and_the_total() {
        let long = "x".repeat(5_000);
        let mut body = json!({
            "content": long,
            "embeds": (0..12).map(|_| json!({
                "title": long, "description": long,
                "fields": (0..30).map(|_| json!({"name": long, "value": ""})).collect::<Vec<_>>(),
                "footer": {"text": long}
            })).collect::<Vec<_>>()
        });
        let cuts = fit_discord(&mut body);
        assert!(!cuts.is_empty());
        assert_eq!(body["content"].as_str().unwrap().chars().count(), DISCORD_CONTENT);
        let embeds = body["embeds"].as_array().unwrap();
        assert_eq!(embeds.len(), DISCORD_EMBEDS);
        assert!(embeds.iter().all(|e| e["fields"].as_array().unwrap().len() == DISCORD_FIELDS));
        assert!(embeds.iter().all(|e| e["fields"][0]["value"] == "\u{2014}"), "empty values filled");
        // Field names alone exceed 6,000 here; the budget is met as far as descriptions allow.
        assert!(embeds.iter().all(|e| chars(e.get("title")) <= DISCORD_TITLE));
    }

    #[test]
    fn slack_bodies_fit_section_header_and_block_limits() {
        let long = "y".repeat(50_000);
        let mut body = json!({
            "text": long,
            "blocks": (0..60).map(|_| json!({"type": "section", "text": {"type": "mrkdwn", "text": long}})).collect::<Vec<_>>()
        });
        body["blocks"][0] = json!({"type": "header", "text": {"type": "plain_text", "text": long}});
        fit_slack(&mut body);
        assert_eq!(body["text"].as_str().unwrap().chars().count(), SLACK_TEXT);
        assert_eq!(body["blocks"].as_array().unwrap().len(), SLACK_BLOCKS);
        assert_eq!(body["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), SLACK_HEADER);
        assert_eq!(body["blocks"][1]["text"]["text"].as_str().unwrap().chars().count(), SLACK_SECTION_TEXT);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn a_cut_never_exceeds_its_limit_nor_splits_a_link(
            // Slack text has no stray `<`: tracker text is escaped before it gets here.
            text in "([a-zé日🎉 ]{0,8}(<https://x\\.test/[a-z]{1,5}\\|[a-z ]{1,5}>)?){0,20}",
            limit in 1usize..120,
        ) {
            let cut = truncate_keeping_links(&text, limit, Links::Slack);
            prop_assert!(cut.chars().count() <= limit, "{cut}");
            prop_assert_eq!(cut.matches('<').count(), cut.matches('>').count(), "{}", cut);
        }
    }
}
