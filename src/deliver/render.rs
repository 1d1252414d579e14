//! Messages rendered when they are sent rather than when routed: a burst, from
//! every change that joined it while its window was open (rendered once, not
//! at each join), and a template failure replayed, with the templates of now.
//! The store keeps their template contexts as parts; it renders nothing itself.

use serde_json::Value;

use crate::pipeline::render_message;
use crate::render::{merge_burst, RenderContext, DEFAULT_TEMPLATE};
use crate::store::Delivery;
use crate::Bridge;

/// The body for `delivery` from its stored `parts`, or why there is none.
pub fn from_parts(bridge: &Bridge, delivery: &Delivery, parts: &[String]) -> Result<String, String> {
    let parts: Vec<Value> = parts
        .iter()
        .map(|part| serde_json::from_str(part))
        .collect::<Result<_, _>>()
        .map_err(|error| format!("a stored template context is not JSON: {error}"))?;
    let context = match parts.len() {
        0 => return Err("nothing stored to render this message from".into()),
        // One change renders as it would have when routed.
        1 => parts.into_iter().next().expect("one part"),
        _ => merge_burst(&parts),
    };
    let template = delivery.template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
    match render_message(bridge, &delivery.channel, template, &RenderContext::from(context)) {
        Ok(Some(body)) => Ok(body.into_text()),
        Ok(None) => Err(format!("template `{template}` rendered nothing")),
        Err(error) => Err(error.to_string()),
    }
}
