//! Template helpers that write platform markup: `{{link url text}}`,
//! `{{bold text}}`, `{{quote text}}`. One template then reads well on Slack,
//! Discord and the console. Helpers escape their arguments themselves, since
//! what they write is markup and must not be escaped again. And `{{include}}`,
//! a partial without handlebars' copy of the context.

use std::cell::Cell;

use handlebars::{
    Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderErrorReason,
    Renderable,
};

use super::escape::{for_platform, json_string_content};
use crate::config::ChannelKind;

#[derive(Clone, Copy)]
pub enum Markup {
    Link,
    Bold,
    Quote,
    /// A line break: `\n` in text, the escape `\\n` inside a JSON string.
    Newline,
    /// Text for places that render no markup (embed titles, footers, field
    /// names): no markdown escaping, but still no `@everyone`.
    Plain,
    /// A value as a JSON literal (`{{json color}}` → `15844367`).
    Json,
    /// A person: a real mention on channels with `mentions: true` when their chat
    /// id for this platform is known, else their name.
    Mention,
    /// An RFC 3339 time as each reader's clock shows it: Slack's `<!date^…>`,
    /// Discord's relative `<t:…:R>`; `2026-03-14 09:30 UTC` elsewhere.
    When,
}

pub struct MarkupHelper {
    pub markup: Markup,
    pub platform: ChannelKind,
    /// In a template that writes a JSON body, output goes inside a JSON string.
    pub json: bool,
}

impl HelperDef for MarkupHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        context: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let text_param = |index: usize| -> String {
            match helper.param(index).map(|param| param.value()) {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        if let Markup::Newline = self.markup {
            out.write(if self.json { "\\n" } else { "\n" })?;
            return Ok(());
        }
        if helper.params().is_empty() {
            return Err(RenderErrorReason::ParamNotFoundForIndex("markup helper", 0).into());
        }
        if let Markup::Json = self.markup {
            let value = helper.param(0).map(|param| param.value().clone()).unwrap_or_default();
            out.write(&value.to_string())?;
            return Ok(());
        }
        let markup = match self.markup {
            Markup::Mention => {
                let person = helper.param(0).map(|param| param.value().clone()).unwrap_or_default();
                let allowed =
                    context.data().get("mentions").and_then(serde_json::Value::as_bool) == Some(true);
                mention(self.platform, &person, allowed)
            }
            Markup::Link => link(self.platform, &text_param(0), &text_param(1)),
            Markup::Bold => bold(self.platform, &for_platform(self.platform, &text_param(0))),
            Markup::Quote => quote(self.platform, &for_platform(self.platform, &text_param(0))),
            Markup::Plain => plain(self.platform, &text_param(0)),
            Markup::When => when(self.platform, &text_param(0)),
            Markup::Newline | Markup::Json => unreachable!("handled above"),
        };
        let markup = if self.json { json_string_content(&markup) } else { markup };
        out.write(&markup)?;
        Ok(())
    }
}

/// A link whose label cannot end the link early: Slack labels lose `|`, URLs
/// have the characters that would close the markup percent-encoded.
fn link(platform: ChannelKind, url: &str, label: &str) -> String {
    let label = if label.is_empty() { url } else { label };
    let safe_url = url.trim().replace(' ', "%20").replace('<', "%3C").replace('>', "%3E");
    let is_web = safe_url.starts_with("https://") || safe_url.starts_with("http://");
    if !is_web {
        return for_platform(platform, label);
    }
    match platform {
        ChannelKind::Slack => {
            let label = super::escape::slack(label).replace('|', "\u{2223}");
            format!("<{}|{label}>", safe_url.replace('|', "%7C"))
        }
        ChannelKind::Discord => {
            let url = safe_url.replace(')', "%29").replace('(', "%28");
            format!("[{}]({url})", super::escape::discord(label))
        }
        ChannelKind::Console => format!("{label} ({safe_url})"),
    }
}

fn when(platform: ChannelKind, time: &str) -> String {
    let Some(millis) = crate::normalize::parse_rfc3339(time) else {
        return for_platform(platform, time);
    };
    let seconds = millis.div_euclid(1000);
    let text = crate::normalize::rfc3339_from_millis(millis);
    let readable = format!("{} UTC", text.get(..16).unwrap_or(&text).replace('T', " "));
    match platform {
        ChannelKind::Slack => format!("<!date^{seconds}^{{date_short_pretty}} {{time}}|{readable}>"),
        ChannelKind::Discord => format!("<t:{seconds}:R>"),
        ChannelKind::Console => readable,
    }
}

fn mention(platform: ChannelKind, person: &serde_json::Value, allowed: bool) -> String {
    let chat_id = match platform {
        ChannelKind::Slack => person.get("slack"),
        ChannelKind::Discord => person.get("discord"),
        ChannelKind::Console => None,
    };
    match chat_id.and_then(serde_json::Value::as_str) {
        // Ids come from the admin's config, but are checked all the same: a
        // stray `>` would end the mention and start markup.
        Some(id) if allowed && id.chars().all(|c| c.is_ascii_alphanumeric()) => format!("<@{id}>"),
        _ => for_platform(
            platform,
            person.get("name").and_then(serde_json::Value::as_str).unwrap_or("someone"),
        ),
    }
}

fn plain(platform: ChannelKind, text: &str) -> String {
    match platform {
        // Slack escapes the same everywhere; its plain_text shows entities decoded.
        ChannelKind::Slack => super::escape::slack(text),
        ChannelKind::Discord => {
            text.replace("@everyone", "@\u{200B}everyone").replace("@here", "@\u{200B}here")
        }
        ChannelKind::Console => text.to_owned(),
    }
}

fn bold(platform: ChannelKind, escaped: &str) -> String {
    if escaped.is_empty() {
        return String::new();
    }
    match platform {
        ChannelKind::Slack => format!("*{escaped}*"),
        ChannelKind::Discord => format!("**{escaped}**"),
        ChannelKind::Console => escaped.to_owned(),
    }
}

fn quote(platform: ChannelKind, escaped: &str) -> String {
    let prefix = match platform {
        ChannelKind::Slack | ChannelKind::Discord => "> ",
        ChannelKind::Console => "  | ",
    };
    escaped.lines().map(|line| format!("{prefix}{line}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_their_labels_inside_the_markup() {
        assert_eq!(
            link(ChannelKind::Slack, "https://x.test/s/1", "a|b <c>"),
            "<https://x.test/s/1|a\u{2223}b &lt;c&gt;>"
        );
        assert_eq!(
            link(ChannelKind::Discord, "https://x.test/(1)", "[t]"),
            "[\\[t\\]](https://x.test/%281%29)"
        );
        assert_eq!(link(ChannelKind::Console, "https://x.test", "t"), "t (https://x.test)");
    }

    #[test]
    fn a_time_reads_in_each_reader_s_own_clock() {
        let time = "2026-03-14T09:30:15Z";
        assert_eq!(
            when(ChannelKind::Slack, time),
            "<!date^1773480615^{date_short_pretty} {time}|2026-03-14 09:30 UTC>"
        );
        assert_eq!(when(ChannelKind::Discord, time), "<t:1773480615:R>");
        assert_eq!(when(ChannelKind::Console, time), "2026-03-14 09:30 UTC");
        assert_eq!(when(ChannelKind::Slack, "<!here>"), "&lt;!here&gt;", "not a time: escaped text");
    }

    #[test]
    fn a_link_without_a_web_url_is_plain_escaped_text() {
        assert_eq!(link(ChannelKind::Slack, "", "<!here>"), "&lt;!here&gt;");
        assert_eq!(link(ChannelKind::Slack, "javascript:x", "t"), "t");
    }
}

/// `{{include "name"}}`: another template rendered in place, in the caller's
/// scope, as `{{> name}}` would. handlebars gives every partial a deep copy of
/// the current context; for the default Slack message (four partials) that copy
/// was most of the render time.
pub struct IncludeHelper;

/// Deeper than this is a template including itself, directly or not.
const MAX_INCLUDE_DEPTH: usize = 16;

thread_local! {
    static INCLUDE_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Counts one level of nesting for as long as it lives.
struct Nested;

impl Nested {
    fn enter() -> (Nested, usize) {
        let depth = INCLUDE_DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        (Nested, depth)
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        INCLUDE_DEPTH.with(|depth| depth.set(depth.get() - 1));
    }
}

impl HelperDef for IncludeHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        helper: &Helper<'rc>,
        registry: &'reg Handlebars<'reg>,
        context: &'rc Context,
        render: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let name = helper
            .param(0)
            .and_then(|param| param.value().as_str())
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("include", 0))?;
        let template =
            registry.get_template(name).ok_or_else(|| RenderErrorReason::PartialNotFound(name.to_owned()))?;
        let (_nested, depth) = Nested::enter();
        if depth > MAX_INCLUDE_DEPTH {
            return Err(RenderErrorReason::Other(format!(
                "include \"{name}\" nested more than {MAX_INCLUDE_DEPTH} deep: does a template include itself?"
            ))
            .into());
        }
        template.render(registry, context, render, out)
    }
}
