//! The bundled config's development secrets (`${VAR:-dev-secret}`) let a
//! newcomer sign a request by hand on their own machine; on a public address
//! they would accept anyone who has read the README. Serving anything but a
//! loopback address while one of them is in use is refused, naming the
//! variable to set.

use std::net::SocketAddr;

/// The values the bundled config falls back to.
const DEVELOPMENT_VALUES: &[&str] = &["dev-secret", "dev-token"];

/// The variables whose `${VAR:-dev-…}` falls back to a development value in
/// `text` (unset or empty), in the order they appear; comments are skipped.
pub fn development_defaults(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            if let Some((name, default)) = after[..end].split_once(":-") {
                let unset = lookup(name).is_none_or(|value| value.is_empty());
                if unset && DEVELOPMENT_VALUES.contains(&default) && !found.iter().any(|seen| seen == name) {
                    found.push(name.to_owned());
                }
            }
            rest = &after[end + 1..];
        }
    }
    found
}

/// Why serving `addresses` would expose the development secrets, if it would.
pub fn exposure(addresses: &[SocketAddr], defaults: &[String]) -> Option<String> {
    let public: Vec<String> =
        addresses.iter().filter(|address| !address.ip().is_loopback()).map(ToString::to_string).collect();
    if public.is_empty() || defaults.is_empty() {
        return None;
    }
    Some(format!(
        "refusing to listen on {} with the bundled development secrets: set {} (or remove the sources that use them)",
        public.join(", "),
        defaults.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLED: &str = "sources:\n  a: { secrets: [\"${A_SECRET:-dev-secret}\"] }\n  b: { token: \"${B_TOKEN:-dev-token}\" }\n\
                           # c: { secrets: [\"${C_SECRET:-dev-secret}\"] }\n  d: { url: \"${D_URL:-http://x}\" }\n";

    #[test]
    fn the_variables_left_on_their_development_default_are_named() {
        let set = |name: &str| (name == "A_SECRET").then(|| "a-real-secret".to_owned());
        assert_eq!(development_defaults(BUNDLED, &set), ["B_TOKEN"]);
        let empty = |_: &str| Some(String::new());
        assert_eq!(development_defaults(BUNDLED, &empty), ["A_SECRET", "B_TOKEN"]);
    }

    #[test]
    fn only_a_public_address_with_a_development_secret_is_refused() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let defaults = vec!["B_TOKEN".to_owned()];
        assert_eq!(exposure(&[local], &defaults), None);
        assert_eq!(exposure(&[public], &[]), None);
        assert_eq!(
            exposure(&[local, public], &defaults).unwrap(),
            "refusing to listen on 0.0.0.0:8080 with the bundled development secrets: set B_TOKEN \
             (or remove the sources that use them)"
        );
    }
}
