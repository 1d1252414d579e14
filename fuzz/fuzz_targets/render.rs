//! Any JSON as a template context, through every default template on every platform.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storybridge::config::ChannelKind;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(context) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let context = storybridge::render::RenderContext::from(context);
    let templates = &common::bridge().templates;
    for platform in [ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Console] {
        for name in ["default", "comment", "summary", "headline", "details", "action"] {
            let _ = templates.render(name, platform, &context);
        }
    }
});
