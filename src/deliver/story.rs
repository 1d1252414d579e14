//! A message about a story on a channel that threads or keeps live cards
//! (`thread: per-story`, `update: in-place`). The story's first message is
//! posted and becomes its root (on a card channel, the card itself); later
//! ones reply under it, edit the card, or both.
//!
//! What goes out is drawn when it is sent, from the message's stored
//! context: a reply with the reply template, a card from the story's state
//! and the channel's latest messages about it. A card therefore shows the
//! newest the bridge knows of its story (an edit never shows an older state
//! than the one before it), a template reload applies at the next edit, and
//! an edit that would change nothing is skipped. A message the platform will
//! no longer take (deleted, too old to edit) is replaced by a fresh one and
//! the story re-pointed to it.

use serde_json::Value;

use super::pace::{Op, Pace};
use crate::config::ChannelConfig;
use crate::pipeline::render_message;
use crate::render::{
    card_context, card_template, merge_burst, reply_template, RenderContext, StoryState, RECENT,
};
use crate::sinks::{discord, slack_bot, Answer, SendOutcome};
use crate::store::{Delivery, StoreError, ThreadRoot};
use crate::{Bridge, Shared};

/// A story's message, drawn for each way it may go out.
pub struct Drawn {
    /// The message as routed: a root on a channel without cards.
    pub message: String,
    /// As a reply in the story's thread.
    pub reply: String,
    /// The story's card, on a channel that keeps one.
    pub card: Option<Card>,
}

pub struct Card {
    pub body: String,
    pub hash: String,
    /// The hash of the card the channel shows now.
    pub shown: Option<String>,
}

/// Why a story's message could not be drawn.
pub enum DrawError {
    /// A template failed: the message is dead until it is replayed.
    Template(String),
    /// The store could not be read: try again later.
    Store(StoreError),
}

impl From<StoreError> for DrawError {
    fn from(error: StoreError) -> Self {
        DrawError::Store(error)
    }
}

/// Draws `delivery` (whose body is rendered) for `channel`, about the story `key`.
pub async fn draw(
    shared: &Shared,
    bridge: &Bridge,
    channel_name: &str,
    delivery: &Delivery,
    key: &str,
) -> Result<Drawn, DrawError> {
    let channel = &bridge.config.channels[channel_name];
    let parts = shared.store.parts(delivery.id).await?;
    // Messages queued before the bridge kept their contexts are sent as they are.
    let context = message_context(&parts).map_err(DrawError::Template)?;
    let message_template = delivery.template.as_deref().unwrap_or(crate::render::DEFAULT_TEMPLATE);
    let reply = match (&context, channel.thread) {
        (Some(context), Some(_)) => {
            render(bridge, channel_name, reply_template(channel, message_template), context.clone())?
        }
        _ => delivery.body.clone(),
    };
    let card = match channel.update {
        Some(_) => Some(draw_card(shared, bridge, channel_name, channel, key, context).await?),
        None => None,
    };
    Ok(Drawn { message: delivery.body.clone(), reply, card })
}

/// The message's context: its one part, or a burst's parts merged.
fn message_context(parts: &[String]) -> Result<Option<Value>, String> {
    let parts: Vec<Value> = parts
        .iter()
        .map(|part| serde_json::from_str(part))
        .collect::<Result<_, _>>()
        .map_err(|error| format!("a stored template context is not JSON: {error}"))?;
    Ok(match parts.len() {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(merge_burst(&parts)),
    })
}

async fn draw_card(
    shared: &Shared,
    bridge: &Bridge,
    channel_name: &str,
    channel: &ChannelConfig,
    key: &str,
    latest: Option<Value>,
) -> Result<Card, DrawError> {
    let source = shared.store.card(channel_name, key, RECENT).await?;
    // A state this bridge cannot read draws a card from the messages alone.
    let story: StoryState =
        source.state.as_deref().and_then(|state| serde_json::from_str(state).ok()).unwrap_or_default();
    let recent: Vec<Value> =
        source.recent.iter().filter_map(|part| serde_json::from_str(part).ok()).collect();
    let latest = latest.or_else(|| recent.first().cloned()).unwrap_or_default();
    let body = render(bridge, channel_name, card_template(channel), card_context(&story, latest, recent))?;
    let hash = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())[..16]);
    Ok(Card { body, hash, shown: source.shown })
}

fn render(bridge: &Bridge, channel_name: &str, template: &str, context: Value) -> Result<String, DrawError> {
    match render_message(bridge, channel_name, template, &RenderContext::from(context)) {
        Ok(Some(body)) => Ok(body.into_text()),
        Ok(None) => Err(DrawError::Template(format!("template `{template}` rendered nothing"))),
        Err(error) => Err(DrawError::Template(error.to_string())),
    }
}

/// One drawn message about the story `key`, on its way to `channel`.
pub struct StoryMessage<'a> {
    pub shared: &'a Shared,
    pub channel_name: &'a str,
    pub channel: &'a ChannelConfig,
    pub key: &'a str,
    pub drawn: Drawn,
}

impl StoryMessage<'_> {
    /// Sends it where the story's messages go, each request paced as its kind.
    pub async fn send(&self, pace: &mut Pace) -> Answer {
        let root = match self.shared.store.thread(self.channel_name, self.key).await {
            Ok(root) => root,
            // Posting without the root would start a second thread: wait for the store.
            Err(error) => {
                return Answer::without_response(SendOutcome::Transient(format!(
                    "cannot read the story's thread: {error}"
                )))
            }
        };
        if let Some(root) = &root {
            if let Some(answer) = self.onto_root(root, pace).await {
                return answer;
            }
        }
        // No root yet, or the one there was is gone: post it (again).
        let card = self.drawn.card.as_ref();
        pace.ready(Op::Post).await;
        let answer = self.platform().post_root(card.map_or(&self.drawn.message, |card| &card.body)).await;
        if let (SendOutcome::Delivered, Some(posted)) = (&answer.outcome, &answer.posted) {
            let store = &self.shared.store;
            let hash = card.map(|card| card.hash.clone());
            if let Err(error) = store.set_thread(self.channel_name, self.key, posted.clone(), hash).await {
                tracing::warn!(channel = %self.channel_name, thread = self.key, %error, "cannot record the story's thread; its next message starts a new one");
            } else if root.is_some() {
                tracing::info!(channel = %self.channel_name, thread = self.key, "the story's message was gone; posted a fresh one and re-pointed the story");
            }
        }
        answer
    }

    /// Edits the card (`update`) and/or replies under the root (`thread`);
    /// `None` when the root is gone and a fresh one is due.
    async fn onto_root(&self, root: &ThreadRoot, pace: &mut Pace) -> Option<Answer> {
        let Some(card) = &self.drawn.card else {
            return self.reply(root, pace).await;
        };
        if card.shown.as_deref() == Some(card.hash.as_str()) {
            // An earlier edit already showed the story as it is now.
            tracing::debug!(channel = %self.channel_name, thread = self.key, "the card shows this already; no edit");
            return match self.channel.thread {
                Some(_) => self.reply(root, pace).await,
                None => Some(Answer::without_response(SendOutcome::Delivered)),
            };
        }
        let edited = self.edit(root, card, pace).await;
        match (&edited.outcome, self.channel.thread) {
            (SendOutcome::Delivered, None) => Some(edited),
            (SendOutcome::Delivered, Some(_)) => self.reply(root, pace).await,
            // Discord: a message into an archived thread unarchives it, and then
            // the edit goes through.
            (SendOutcome::Archived { .. }, Some(_)) => {
                let reply = self.reply(root, pace).await?;
                if reply.outcome == SendOutcome::Delivered {
                    let again = self.edit(root, card, pace).await;
                    if again.outcome != SendOutcome::Delivered {
                        tracing::warn!(channel = %self.channel_name, thread = self.key, outcome = ?again.outcome, "the story's card could not be edited after unarchiving its thread; it shows an older state until the next change");
                    }
                }
                Some(reply)
            }
            (SendOutcome::Stale { .. } | SendOutcome::Archived { .. }, _) => None,
            _ => Some(edited),
        }
    }

    async fn edit(&self, root: &ThreadRoot, card: &Card, pace: &mut Pace) -> Answer {
        pace.ready(Op::Edit).await;
        let edited = self.platform().edit(root, &card.body).await;
        if edited.outcome == SendOutcome::Delivered {
            self.shared.metrics.message(self.channel_name, "edited");
            let store = &self.shared.store;
            if let Err(error) = store.card_shown(self.channel_name, self.key, card.hash.clone()).await {
                tracing::debug!(channel = %self.channel_name, %error, "cannot record the card shown; the next edit is made anyway");
            }
        }
        edited
    }

    async fn reply(&self, root: &ThreadRoot, pace: &mut Pace) -> Option<Answer> {
        pace.ready(Op::Post).await;
        let reply = self.platform().reply(root, &self.drawn.reply).await;
        (!reply.is_stale()).then_some(reply)
    }

    fn platform(&self) -> Platform<'_> {
        Platform { client: &self.shared.client, channel: self.channel }
    }
}

/// A story's messages, said the way its channel's platform says them.
struct Platform<'a> {
    client: &'a reqwest::Client,
    channel: &'a ChannelConfig,
}

impl Platform<'_> {
    /// The story's first message: on a Discord forum, a post titled with it.
    async fn post_root(&self, body: &str) -> Answer {
        match &self.channel.bot {
            Some(bot) => {
                slack_bot::send(self.client, bot, body, slack_bot::Action::Post { thread: None }).await
            }
            None => {
                let thread_name = self.in_forum().then(|| discord::thread_name(body));
                let action = discord::StoryAction::Post { thread_id: None, thread_name };
                discord::send_story(self.client, self.channel, body, action).await
            }
        }
    }

    async fn reply(&self, root: &ThreadRoot, body: &str) -> Answer {
        match &self.channel.bot {
            Some(bot) => {
                slack_bot::send(self.client, bot, body, slack_bot::Action::Post { thread: Some(root) }).await
            }
            // In a forum, the root's channel is the post's thread.
            None => {
                let action =
                    discord::StoryAction::Post { thread_id: Some(&root.channel_id), thread_name: None };
                discord::send_story(self.client, self.channel, body, action).await
            }
        }
    }

    async fn edit(&self, root: &ThreadRoot, body: &str) -> Answer {
        match &self.channel.bot {
            Some(bot) => {
                slack_bot::send(self.client, bot, body, slack_bot::Action::Update { card: root }).await
            }
            None => {
                let thread_id = self.in_forum().then_some(root.channel_id.as_str());
                let action = discord::StoryAction::Edit { message: root, thread_id };
                discord::send_story(self.client, self.channel, body, action).await
            }
        }
    }

    fn in_forum(&self) -> bool {
        self.channel.forum && self.channel.thread.is_some()
    }
}
