//! Which templates a template includes, and the cycles among them. A template
//! that includes itself, directly or through others, would recurse until the
//! stack overflows and the process aborts (handlebars bounds no partial
//! depth), on every event that reaches it: such templates are refused when
//! they load (start, `check`, reload), with the cycle named. `include` with a
//! name computed at run time is bounded when it renders (`helpers.rs`); a
//! partial's name must be written out, so every `{{> …}}` is seen here.

use std::collections::{BTreeMap, BTreeSet};

/// What one template refers to, or why it cannot be checked.
fn references(text: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let tag = &rest[start + 2..];
        // Comments may mention anything.
        if let Some(comment) = tag.strip_prefix("!--") {
            rest = comment.find("--}}").map_or("", |end| &comment[end + 4..]);
            continue;
        }
        let end = tag.find("}}").unwrap_or(tag.len());
        let inside = tag[..end].trim_start_matches(['{', '~']).trim_start();
        rest = &tag[end..];
        if inside.starts_with('!') {
            continue;
        }
        if inside.starts_with("#*") || inside.starts_with('*') {
            return Err(
                "inline partials (`{{#*inline}}`) are not supported: put the partial in a file of its own"
                    .into(),
            );
        }
        let partial = inside.strip_prefix("#>").or_else(|| inside.strip_prefix('>'));
        if let Some(partial) = partial {
            let name =
                partial.trim_start().split(|c: char| c.is_whitespace() || c == '~').next().unwrap_or("");
            if name.starts_with('(') || name.is_empty() {
                return Err("a partial's name must be written out (`{{> name}}`), not computed".into());
            }
            if !name.starts_with('@') {
                found.push(name.trim_matches(['"', '\'', '[', ']']).to_owned());
            }
            continue;
        }
        let include = inside.strip_prefix("include").filter(|after| after.starts_with(char::is_whitespace));
        if let Some(argument) = include.map(str::trim_start) {
            if let Some(quoted) = argument.strip_prefix('"') {
                found.push(quoted.split('"').next().unwrap_or("").to_owned());
            }
        }
    }
    Ok(found)
}

/// Problems with `templates` (registered name → (text, where it came from)):
/// a template that cannot be checked, or an include cycle, named.
pub fn problems(templates: &BTreeMap<String, (&str, &str)>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut edges: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, (text, origin)) in templates {
        match references(text) {
            Ok(found) => {
                let known = found.into_iter().filter(|target| templates.contains_key(target)).collect();
                edges.insert(name, known);
            }
            Err(why) => problems.push(format!("{origin}: {why}")),
        }
    }
    let mut reported = BTreeSet::new();
    for start in edges.keys() {
        if let Some(cycle) = cycle_from(start, &edges) {
            // One report per cycle, whichever of its templates it was found from.
            let members: BTreeSet<&str> = cycle.iter().map(String::as_str).collect();
            let key: Vec<&str> = members.into_iter().collect();
            if reported.insert(key.join(" ")) {
                let origin = templates[&cycle[0]].1;
                problems.push(match cycle.len() {
                    2 => format!("{origin}: `{}` includes itself: it would never finish rendering", cycle[0]),
                    _ => format!(
                        "{origin}: include cycle {}: it would never finish rendering",
                        cycle.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(" → ")
                    ),
                });
            }
        }
    }
    problems
}

/// A path from `start` back to itself, if there is one.
fn cycle_from(start: &str, edges: &BTreeMap<&str, Vec<String>>) -> Option<Vec<String>> {
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    fn walk(
        node: &str,
        start: &str,
        edges: &BTreeMap<&str, Vec<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    walk(start, start, edges, &mut path, &mut seen).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(templates: &[(&str, &str)]) -> Vec<String> {
        let map = templates.iter().map(|(name, text)| (name.to_string(), (*text, *name))).collect();
        problems(&map)
    }

    #[test]
    fn a_template_that_includes_itself_is_named() {
        assert_eq!(
            problems_of(&[("loop", "{{#if name}}{{> loop}}{{/if}}")]),
            ["loop: `loop` includes itself: it would never finish rendering"]
        );
        assert_eq!(
            problems_of(&[("loop", "{{~include \"loop\"~}}")]),
            ["loop: `loop` includes itself: it would never finish rendering"]
        );
    }

    #[test]
    fn two_templates_including_each_other_are_one_cycle() {
        assert_eq!(
            problems_of(&[("a", "{{include \"b\"}}"), ("b", "x {{> a }}"), ("c", "{{include \"a\"}}")]),
            ["a: include cycle `a` → `b` → `a`: it would never finish rendering"]
        );
    }

    #[test]
    fn includes_without_a_cycle_comments_and_unknown_names_pass() {
        let fine = [
            ("headline", "{{name}}"),
            ("action", "{{include \"headline\"}} {{#> headline}}x{{/headline}}"),
            ("default", "{{!-- {{> default}} --}}{{! {{> default}} }}{{include \"action\"}}{{> missing}}"),
        ];
        assert_eq!(problems_of(&fine), Vec::<String>::new());
    }

    #[test]
    fn what_cannot_be_checked_is_refused() {
        assert_eq!(
            problems_of(&[("d", "{{> (lookup . \"which\")}}")]),
            ["d: a partial's name must be written out (`{{> name}}`), not computed"]
        );
        assert_eq!(
            problems_of(&[("i", "{{#*inline \"x\"}}{{> x}}{{/inline}}{{> x}}")]),
            ["i: inline partials (`{{#*inline}}`) are not supported: put the partial in a file of its own"]
        );
    }
}
