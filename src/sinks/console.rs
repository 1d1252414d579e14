//! The console channel: prints each message to stdout, so a newcomer can post a
//! fixture and read the result without any chat account.

use std::io::Write;

use serde_json::{json, Value};

use super::SendOutcome;
use crate::render::Draft;

pub fn compose(draft: Draft) -> Value {
    match draft {
        Draft::Text(text) => json!({ "text": text.trim() }),
        Draft::Body(body) => Value::Object(body),
    }
}

pub fn print(body: &str) -> SendOutcome {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = match parsed.as_ref().and_then(|json| json.get("text")).and_then(Value::as_str) {
        Some(text) => text.to_owned(),
        None => body.to_owned(),
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}\n").and_then(|()| stdout.flush()) {
        Ok(()) => SendOutcome::Delivered,
        Err(error) => SendOutcome::Transient(format!("stdout: {error}")),
    }
}
