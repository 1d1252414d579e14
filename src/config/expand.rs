//! `${VAR}` and `${VAR:-default}` in config strings, taken from the environment.

/// Why a string could not be expanded. Holds variable names, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("environment variable {0} is not set (write ${{{0}:-default}} to give a default)")]
    Unset(String),
    #[error("unterminated ${{ (write $${{ for a literal ${{)")]
    Unterminated,
    #[error("empty variable name in ${{}}")]
    EmptyName,
}

/// Replaces every `${NAME}` / `${NAME:-default}` using `lookup`; `$${` is a literal `${`.
/// A variable set to the empty string counts as set, except under `:-`, where an
/// empty value takes the default, as in the shell.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut output = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        output.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(literal_rest) = after.strip_prefix("$${") {
            output.push_str("${");
            rest = literal_rest;
        } else if let Some(body_start) = after.strip_prefix("${") {
            let close = body_start.find('}').ok_or(ExpandError::Unterminated)?;
            output.push_str(&substitute(&body_start[..close], lookup)?);
            rest = &body_start[close + 1..];
        } else {
            output.push('$');
            rest = &after[1..];
        }
    }
    output.push_str(rest);
    Ok(output)
}

fn substitute(body: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    if name.is_empty() {
        return Err(ExpandError::EmptyName);
    }
    match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(ExpandError::Unset(name.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn replaces_set_variables_and_keeps_the_rest() {
        assert_eq!(expand("a-${SECRET}-b", &env).unwrap(), "a-s3cr3t-b");
        assert_eq!(expand("no vars $HOME $", &env).unwrap(), "no vars $HOME $");
    }

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(expand("${MISSING:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("${EMPTY:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand("${MISSING:-}", &env).unwrap(), "");
    }

    #[test]
    fn unset_without_default_is_an_error_naming_the_variable() {
        assert_eq!(expand("${MISSING}", &env), Err(ExpandError::Unset("MISSING".into())));
    }

    #[test]
    fn double_dollar_escapes_and_unterminated_is_an_error() {
        assert_eq!(expand("$${SECRET}", &env).unwrap(), "${SECRET}");
        assert_eq!(expand("${SECRET", &env), Err(ExpandError::Unterminated));
    }
}
