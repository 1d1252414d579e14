#!/usr/bin/env python3
"""Turns `storybridge preview --json` output into HTML mock-ups of the messages,
as Slack (Block Kit, mrkdwn) and Discord (embeds, markdown) would draw them.

Usage: mockup.py PREVIEW.json PLATFORM OUT.html
       mockup.py --thread OUT.html CAPTURE.json (the Slack thread capture.py recorded)
       mockup.py --card OUT.html CAPTURE.json PLATFORM (the last state of a recorded card)
       mockup.py --body OUT.html BODY.json PLATFORM (one body, e.g. `storybridge digest`'s)
The mock-up is a likeness for the README, not a pixel copy of either client:
it renders exactly the text, links, quotes, fields and colours in the JSON.
"""
import datetime
import html
import json
import re
import sys


def slack_mrkdwn(text):
    """Slack mrkdwn → HTML: <url|label> links, *bold*, > quotes, entities."""
    out = []
    for line in text.split("\n"):
        quote = line.startswith("&gt; ") or line.startswith("> ")
        if quote:
            line = line.split(" ", 1)[1] if " " in line else ""
        parts, rest = [], line
        for match in re.finditer(r"<([^<>|]+)\|([^<>]*)>|<([^<>|]+)>", line):
            pass
        pos = 0
        for match in re.finditer(r"<([^<>|]+)(?:\|([^<>]*))?>", line):
            parts.append(inline_slack(line[pos:match.start()]))
            url, label = match.group(1), match.group(2) or match.group(1)
            if url.startswith("!date^"):
                # Slack draws a date in the reader's own zone; the fallback is close enough.
                parts.append(inline_slack(label))
            else:
                parts.append(f'<a href="{html.escape(url)}">{inline_slack(label)}</a>')
            pos = match.end()
        parts.append(inline_slack(line[pos:]))
        # `*<url|label>*`: Slack bolds the link.
        rendered = re.sub(r"\*(<a [^>]*>.*?</a>)\*", r"<b>\1</b>", "".join(parts))
        out.append(f'<div class="quote">{rendered}</div>' if quote else f"<div>{rendered or '&nbsp;'}</div>")
    return "".join(out)


def inline_slack(text):
    text = html.unescape(text)  # Slack's &lt; &gt; &amp; are the characters
    text = html.escape(text)
    text = re.sub(r"\*([^*]+)\*", r"<b>\1</b>", text)
    return re.sub(r"(^|\s)_([^_]+)_(?=\s|$)", r"\1<i>\2</i>", text)


def discord_markdown(text):
    """Discord markdown → HTML: [label](url), **bold**, > quotes, \\ escapes."""
    out = []
    for line in text.split("\n"):
        quote = line.startswith("> ")
        if quote:
            line = line[2:]
        out.append(f'<div class="quote">{inline_discord(line)}</div>' if quote else f"<div>{inline_discord(line) or '&nbsp;'}</div>")
    return "".join(out)


def inline_discord(text):
    placeholders = []

    def keep(fragment):
        placeholders.append(fragment)
        return f"\x00{len(placeholders) - 1}\x00"

    text = re.sub(r"\\(.)", lambda m: keep(html.escape(m.group(1))), text)
    text = re.sub(
        r"\[([^\]]*)\]\(([^)]+)\)",
        lambda m: keep(f'<a href="{html.escape(m.group(2))}">{inline_discord(m.group(1))}</a>'),
        text,
    )
    text = re.sub(r"<t:(\d+):R>", lambda m: keep(relative(int(m.group(1)))), text)
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: placeholders[int(m.group(1))], text)


def relative(seconds):
    """Discord's <t:…:R>: how long ago, as its clients say it."""
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    days = int((now - seconds) // 86400)
    if days >= 365:
        return f"{days // 365} years ago" if days >= 730 else "a year ago"
    return f"{days} days ago" if days > 1 else "today"


STYLE = """
body { margin: 0; background: %(bg)s; font: 15px/1.46 'DejaVu Sans', sans-serif; color: %(fg)s; }
.message { display: flex; gap: 12px; padding: 16px 20px; }
.avatar { width: 40px; height: 40px; border-radius: %(radius)s; background: #4a8; color: #fff;
          font-weight: bold; display: flex; align-items: center; justify-content: center; flex: none; }
.name { font-weight: bold; } .app { font-size: 10px; background: %(badge)s; color: %(badgefg)s;
        padding: 1px 4px; border-radius: 3px; margin-left: 4px; vertical-align: 2px; }
.time { color: %(muted)s; font-size: 12px; margin-left: 6px; }
a { color: %(link)s; text-decoration: none; }
.quote { border-left: 4px solid %(quote)s; padding-left: 10px; margin: 2px 0; }
.context { color: %(muted)s; font-size: 12px; margin-top: 4px; }
.embed { margin-top: 4px; background: #2b2d31; border-left: 4px solid var(--bar); border-radius: 4px;
         padding: 10px 16px 14px 12px; max-width: 520px; }
.embed .title { font-weight: bold; margin-bottom: 6px; } .embed .footer { color: #b5bac1; font-size: 12px; margin-top: 8px; }
.fields { display: flex; flex-wrap: wrap; gap: 8px 24px; margin-top: 8px; }
.field .label { font-weight: bold; font-size: 13px; } .field { font-size: 14px; }
.sfields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 24px; margin-top: 6px; max-width: 520px; }
.edited { color: %(muted)s; font-size: 11px; }
.header { font-weight: bold; font-size: 18px; margin: 2px 0 6px; }
"""

SLACK = dict(bg="#ffffff", fg="#1d1c1d", radius="6px", badge="#e8e8e8", badgefg="#616061",
             muted="#616061", link="#1264a3", quote="#dddddd")
DISCORD = dict(bg="#313338", fg="#dbdee1", radius="50%", badge="#5865f2", badgefg="#ffffff",
               muted="#949ba4", link="#00a8fc", quote="#4e5058")


def slack_page(body):
    blocks = []
    for block in body.get("blocks", []):
        if block.get("type") == "section":
            if "text" in block:
                blocks.append(slack_mrkdwn(block["text"]["text"]))
            if block.get("fields"):
                blocks.append('<div class="sfields">' + "".join(f"<div>{slack_mrkdwn(f['text'])}</div>" for f in block["fields"]) + "</div>")
        elif block.get("type") == "header":
            blocks.append(f'<div class="header">{html.escape(html.unescape(block["text"]["text"]))}</div>')
        elif block.get("type") == "context":
            blocks.append('<div class="context">' + " ".join(slack_mrkdwn(e["text"]) for e in block["elements"]) + "</div>")
    if not blocks:
        blocks.append(slack_mrkdwn(body.get("text", "")))
    header = '<span class="name">storybridge</span><span class="app">APP</span><span class="time">10:24 AM</span>'
    return STYLE % SLACK, '<div class="avatar">sb</div>', header, "".join(blocks)


def discord_page(body):
    parts = []
    if body.get("content"):
        parts.append(discord_markdown(body["content"]))
    for embed in body.get("embeds", []):
        title = html.escape(embed.get("title", ""))
        if embed.get("url"):
            title = f'<a href="{html.escape(embed["url"])}">{title}</a>'
        fields = "".join(
            f'<div class="field"><div class="label">{html.escape(f["name"])}</div>{discord_markdown(f["value"])}</div>'
            for f in embed.get("fields", [])
        )
        color = "#%06x" % embed.get("color", 0x5865F2)
        footer = html.escape(embed.get("footer", {}).get("text", ""))
        parts.append(
            f'<div class="embed" style="--bar: {color}"><div class="title">{title}</div>'
            f'{discord_markdown(embed.get("description", ""))}'
            f'<div class="fields">{fields}</div><div class="footer">{footer}</div></div>'
        )
    name = html.escape(body.get("username", "storybridge"))
    header = f'<span class="name">{name}</span><span class="app">APP</span><span class="time">Today at 10:24 AM</span>'
    return STYLE % DISCORD, '<div class="avatar">sb</div>', header, "".join(parts)


THREAD_STYLE = """
.replies { color: #1264a3; font-size: 13px; font-weight: bold; margin-top: 4px; }
.thread { margin: 0 20px 12px 72px; border-left: 2px solid #dddddd; }
.thread .message { padding: 8px 12px; }
.thread .avatar { width: 28px; height: 28px; font-size: 11px; }
"""


def captured(capture_path):
    return json.load(open(capture_path, encoding="utf-8"))


def thread_main(out_path, capture_path):
    """A story as a `thread: per-story` Slack channel shows it: the first
    message in the channel, the later ones as replies under it."""
    posts = [r["body"] for r in captured(capture_path) if r["path"] == "/api/chat.postMessage"]
    messages = []
    for body in posts:
        style, avatar, header, content = slack_page(body)
        messages.append(f'<div class="message">{avatar}<div><div>{header}</div>{content}</div></div>')
    replies = len(messages) - 1
    page = (
        f'<!doctype html><meta charset="utf-8"><style>{style}{THREAD_STYLE}</style>'
        + messages[0].replace("</div></div>", f'<div class="replies">{replies} replies</div></div></div>', 1)
        + '<div class="thread">' + "".join(messages[1:]) + "</div>"
    )
    open(out_path, "w", encoding="utf-8").write(page)


def card_main(out_path, capture_path, platform):
    """A live card as the channel shows it after the last edit."""
    prefix = "/cards/" if platform == "slack" else "/discord/cards"
    body = [r["body"] for r in captured(capture_path) if r["path"].startswith(prefix)][-1]
    style, avatar, header, content = (slack_page if platform == "slack" else discord_page)(body)
    page = (
        f'<!doctype html><meta charset="utf-8"><style>{style}</style>'
        f'<div class="message">{avatar}<div><div>{header}</div>{content}<div class="edited">(edited)</div></div></div>'
    )
    open(out_path, "w", encoding="utf-8").write(page)


def main():
    if sys.argv[1] == "--thread":
        thread_main(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1] == "--body":
        body = json.load(open(sys.argv[3], encoding="utf-8"))
        style, avatar, header, content = (slack_page if sys.argv[4] == "slack" else discord_page)(body)
        page = (
            f'<!doctype html><meta charset="utf-8"><style>{style}</style>'
            f'<div class="message">{avatar}<div><div>{header}</div>{content}</div></div>'
        )
        open(sys.argv[2], "w", encoding="utf-8").write(page)
        return
    if sys.argv[1] == "--card":
        card_main(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    preview_path, platform, out_path = sys.argv[1:4]
    preview = json.load(open(preview_path, encoding="utf-8"))
    body = next(
        route["body"]
        for change in preview["changes"]
        for route in change["routes"]
        if route["channel"] == platform and "body" in route
    )
    style, avatar, header, content = (slack_page if platform == "slack" else discord_page)(body)
    page = (
        f'<!doctype html><meta charset="utf-8"><style>{style}</style>'
        f'<div class="message">{avatar}<div><div>{header}</div>{content}</div></div>'
    )
    open(out_path, "w", encoding="utf-8").write(page)


if __name__ == "__main__":
    main()
