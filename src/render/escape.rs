//! Escaping what trackers send, per chat platform, so a story titled
//! `<!channel>` or `@everyone` pings nobody and cannot break the markup.

use crate::config::ChannelKind;

pub fn for_platform(platform: ChannelKind, text: &str) -> String {
    match platform {
        ChannelKind::Slack => slack(text),
        ChannelKind::Discord => discord(text),
        ChannelKind::Console => text.to_owned(),
    }
}

/// Slack mrkdwn: exactly `&`, `<` and `>`, as Slack documents. Escaping `<` is
/// what defuses `<!channel>`, `<@U123>` and `<http://evil|label>`.
pub fn slack(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Discord markdown: a backslash before markup characters (as discord.py does),
/// before `#` and `-` that would start a heading or list, and a zero-width space
/// inside `@everyone` / `@here`. Posts also carry `allowed_mentions: {parse: []}`;
/// this keeps the text from even looking like a mention.
pub fn discord(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    let mut at_line_start = true;
    for (index, character) in text.char_indices() {
        match character {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' => {
                escaped.push('\\');
                escaped.push(character);
            }
            '#' | '-' if at_line_start => {
                escaped.push('\\');
                escaped.push(character);
            }
            '@' if text[index + 1..].starts_with("everyone") || text[index + 1..].starts_with("here") => {
                escaped.push_str("@\u{200B}");
            }
            other => escaped.push(other),
        }
        at_line_start = character == '\n' || (at_line_start && character == ' ');
    }
    escaped
}

/// The inside of a JSON string literal, for templates that write a whole JSON body.
pub fn json_string_content(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string always serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_escapes_control_sequences() {
        assert_eq!(slack("<!channel> & <@U1|x>"), "&lt;!channel&gt; &amp; &lt;@U1|x&gt;");
    }

    #[test]
    fn discord_escapes_markup_and_mentions() {
        assert_eq!(discord("@everyone *bold* <@123>"), "@\u{200B}everyone \\*bold\\* \\<@123\\>");
        assert_eq!(discord("# title\n- item a-b"), "\\# title\n\\- item a-b");
        assert_eq!(discord("[x](http://e)"), "\\[x\\](http://e)");
    }

    #[test]
    fn json_content_escapes_quotes_and_newlines() {
        assert_eq!(json_string_content("a \"b\"\n"), "a \\\"b\\\"\\n");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Strings full of what an attacker would put in a story title.
    fn hostile() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just("<!channel>".to_owned()),
                Just("<!here>".to_owned()),
                Just("<!everyone>".to_owned()),
                Just("<@U024BE7LH>".to_owned()),
                Just("<@&123>".to_owned()),
                Just("<https://evil.example|click>".to_owned()),
                Just("@everyone".to_owned()),
                Just("@here".to_owned()),
                Just("[x](https://evil.example)".to_owned()),
                ".{0,6}".prop_map(|s| s),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn slack_text_never_keeps_a_control_sequence(text in hostile()) {
            let escaped = slack(&text);
            prop_assert!(!escaped.contains('<') && !escaped.contains('>'), "{escaped}");
        }

        #[test]
        fn discord_text_never_keeps_a_mention_or_a_masked_link(text in hostile()) {
            let escaped = discord(&text);
            prop_assert!(!escaped.contains("@everyone") && !escaped.contains("@here"), "{escaped}");
            // Every `<` and `[` is escaped with a backslash.
            for (index, c) in escaped.char_indices() {
                if c == '<' || c == '[' {
                    prop_assert!(escaped[..index].ends_with('\\'), "{escaped}");
                }
            }
        }
    }
}
