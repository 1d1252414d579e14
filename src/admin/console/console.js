// The storybridge console. Every node is built with textContent (tracker text
// is hostile); the token lives in this tab's sessionStorage and travels only as
// a Bearer header.
"use strict";
(() => {
  const KEY = "storybridge-admin-token";
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(KEY) || "";
  let channelKinds = {};
  let templates = {}; // file → {origin, text}, as the bridge has them
  const edits = {}; // file → text edited here, not saved anywhere
  let redraw = null;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (name === "class") node.className = value;
      else if (name.startsWith("data-")) node.setAttribute(name, value);
      else node[name] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Only absolute http(s) URLs become links.
  function link(url, label) {
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "http:" || parsed.protocol === "https:") {
        return el("a", { href: parsed.href, rel: "noopener noreferrer", target: "_blank" }, label || url);
      }
    } catch (_) { /* not a URL: shown as text */ }
    return document.createTextNode(label || url);
  }

  function showError(message) { $("error").textContent = message || ""; }

  async function api(method, path, body, headers) {
    const response = await fetch(path, {
      method,
      headers: Object.assign({ Authorization: "Bearer " + token }, headers || {}),
      body,
      cache: "no-store",
      credentials: "omit",
    });
    let data = null;
    try { data = await response.json(); } catch (_) { /* no JSON body */ }
    if (response.status === 401) {
      signOut();
      throw new Error("The admin token was refused.");
    }
    if (!response.ok) throw new Error((data && data.error) || "HTTP " + response.status);
    return data;
  }

  function show(view) {
    for (const name of ["login", "try", "queue"]) $("view-" + name).hidden = name !== view;
    $("nav").hidden = view === "login";
    showError("");
    if (view === "queue") refreshQueue().catch((e) => showError(e.message));
  }

  function signOut() {
    token = "";
    sessionStorage.removeItem(KEY);
    show("login");
  }

  async function open() {
    const [sources, channels, recent, files] = await Promise.all([
      api("GET", "/api/sources"), api("GET", "/api/channels"), api("GET", "/api/events?limit=50"),
      api("GET", "/api/templates"),
    ]);
    templates = Object.fromEntries(files.map((t) => [t.file, t]));
    $("template-file").replaceChildren(...files.map((t) => el("option", { value: t.file }, t.file)));
    showTemplate();
    $("source").replaceChildren(...sources.map((s) => el("option", { value: s.name }, `${s.name} (${s.kind})`)));
    channelKinds = Object.fromEntries(channels.map((c) => [c.name, c.kind]));
    $("filter-channel").replaceChildren(el("option", { value: "" }, "all"),
      ...channels.map((c) => el("option", { value: c.name }, c.name)));
    $("recent").replaceChildren(el("option", { value: "" }, "(paste a payload below)"),
      ...recent.map((e) => el("option", { value: e.event_id, "data-source": e.source },
        `${e.received_at} ${e.source} ${e.event_id}`)));
    show("try");
  }

  // ---- Try an event -------------------------------------------------------

  // "Name: value" lines, as the tracker would send them.
  function sentHeaders(text) {
    const headers = {};
    for (const line of text.split("\n")) {
      const at = line.indexOf(":");
      if (at > 0) headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return headers;
  }

  async function preview(event) {
    event.preventDefault();
    showError("");
    const recent = $("recent").value;
    let analysis;
    if (Object.keys(edits).length && $("payload").value.trim()) {
      analysis = await previewEdited();
      if (!analysis) return;
    } else if (recent && !$("payload").value.trim()) {
      analysis = await pickStored(recent);
    } else {
      const headers = Object.assign({ "Content-Type": "application/json" }, sentHeaders($("headers").value));
      analysis = await api("POST", "/api/preview?source=" + encodeURIComponent($("source").value),
        $("payload").value, headers);
    }
    drawAnalysis(analysis);
  }

  // A stored event into the form (its source, payload and the headers that
  // say what it is), and its analysis under the current config.
  async function pickStored(id) {
    const stored = await api("GET", "/api/events/" + encodeURIComponent(id));
    const one = Array.isArray(stored) ? stored[0] : stored;
    $("source").value = one.source;
    $("payload").value = typeof one.payload === "string" ? one.payload : JSON.stringify(one.payload, null, 2);
    $("headers").value = Object.entries(one.headers || {})
      .filter(([name]) => /^x-(github|gitlab)-event$/i.test(name))
      .map(([name, value]) => `${name}: ${value}`).join("\n");
    $("reroute").hidden = false;
    $("reroute").dataset.event = one.event_id;
    return one.analysis;
  }

  async function reroute() {
    const id = $("reroute").dataset.event;
    const answer = await api("POST", `/api/events/${encodeURIComponent(id)}/reroute`);
    const events = (answer && answer.events) || [];
    $("reroute-result").textContent = events.map((e) =>
      `${e.event_id}: ${e.queued} queued, ${e.requeued} requeued, ${e.already} already sent`).join("; ");
  }

  async function sendToChannel(channel) {
    if (!confirm(`Send this message to channel ${channel} now?`)) return;
    const body = JSON.stringify({ source: $("source").value, payload: $("payload").value,
      headers: sentHeaders($("headers").value), templates: edits });
    const answer = await api("POST", `/api/channels/${encodeURIComponent(channel)}/send`, body,
      { "Content-Type": "application/json" }).catch((failure) => ({ outcome: "failed", detail: failure.message }));
    const shown = document.querySelector(`.route[data-channel="${CSS.escape(channel)}"] .sent`);
    if (shown) shown.textContent = `Sent: ${answer.outcome}${answer.detail ? " (" + answer.detail + ")" : ""}`;
  }

  // The payload under the templates as edited here; errors at their line.
  async function previewEdited() {
    const response = await fetch("/api/preview/edited", {
      method: "POST",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify({ source: $("source").value, payload: $("payload").value,
        headers: sentHeaders($("headers").value), templates: edits }),
      cache: "no-store",
      credentials: "omit",
    });
    const data = await response.json().catch(() => null);
    if (response.status === 401) { signOut(); return null; }
    if (!response.ok) {
      $("template-error").textContent = (data && data.error) || "HTTP " + response.status;
      return null;
    }
    $("template-error").textContent = "";
    return data;
  }

  function showTemplate() {
    const file = $("template-file").value;
    const template = templates[file];
    if (!template) return;
    $("template-text").value = file in edits ? edits[file] : template.text;
    $("template-origin").textContent = (file in edits ? "edited here, from " : "from ") + template.origin;
  }

  function edited() {
    const file = $("template-file").value;
    if (!templates[file]) return;
    if ($("template-text").value === templates[file].text) delete edits[file];
    else edits[file] = $("template-text").value;
    $("template-origin").textContent = (file in edits ? "edited here, from " : "from ") + templates[file].origin;
    clearTimeout(redraw);
    redraw = setTimeout(async () => {
      if (!$("payload").value.trim()) return;
      try {
        const analysis = await previewEdited();
        if (analysis) drawAnalysis(analysis);
      } catch (failure) {
        showError(failure.message);
      }
    }, 250);
  }

  function download(event) {
    const file = $("template-file").value;
    const anchor = event.currentTarget;
    anchor.download = file;
    anchor.href = URL.createObjectURL(new Blob([$("template-text").value], { type: "text/plain" }));
  }

  function drawAnalysis(analysis) {
    const result = $("result");
    if (!analysis || analysis.error) {
      result.replaceChildren(el("p", { class: "error" }, (analysis && analysis.error) || "no answer"));
      return;
    }
    if (analysis.ping) {
      result.replaceChildren(el("p", {}, "A ping: acknowledged, nothing routed."));
      return;
    }
    const changes = analysis.changes.map((change, index) => {
      const verdicts = el("ul", { class: "verdicts" }, (change.rules || []).map((verdict) =>
        el("li", { class: "verdict " + (verdict.matched ? "matched" : "unmatched"), "data-rule": verdict.rule },
          el("strong", {}, verdict.rule), verdict.matched ? " matched" : [": ", el("span", { class: "why" }, verdict.why)])));
      const routes = (change.routes || []).map(drawRoute);
      return el("div", { class: "change", "data-change": String(index) },
        el("h3", {}, `Change ${index + 1}: ${change.entity_type} ${change.action} `, change.name ? `“${change.name}”` : "",
          change.primary ? "" : " (side effect)"),
        el("h4", {}, "Rules"), verdicts,
        routes.length ? routes : el("p", { class: "note" }, "No message: no rule sends this change."));
    });
    result.replaceChildren(el("p", { class: "note" }, `Event ${analysis.event_id}`), ...changes);
  }

  function drawRoute(route) {
    const kind = channelKinds[route.channel] || "slack";
    const title = el("h4", {}, `Rule ${route.rule} → channel ${route.channel} (${kind}, template ${route.template})`);
    if (route.error) return el("div", { class: "route" }, title, el("p", { class: "error" }, "Template error: " + route.error));
    if (route.silent) return el("div", { class: "route" }, title, el("p", { class: "note" }, "The template rendered nothing: no message."));
    if (route.digest) return el("div", { class: "route" }, title, el("p", { class: "note" }, "Collected for the channel's digest."));
    const drawing = kind === "discord" ? drawDiscord(route.body) : drawSlack(route.body);
    const json = JSON.stringify(route.body, null, 2);
    const side = [el("pre", { class: "json" }, json)];
    if ($("payload").value.trim()) {
      side.push(el("p", {}, el("button", { type: "button", class: "send", onclick: () => sendToChannel(route.channel) },
        "Send to channel " + route.channel), " ", el("span", { class: "sent note" })));
    }
    if (kind === "slack" && route.body && route.body.blocks) {
      const builder = link("https://app.slack.com/block-kit-builder/#" +
        encodeURIComponent(JSON.stringify({ blocks: route.body.blocks })), "Open in Slack's Block Kit Builder");
      builder.className = "builder";
      side.push(builder);
    }
    return el("div", { class: "route", "data-channel": route.channel }, title, drawing, el("div", {}, side));
  }

  // Bold as the platform marks it (`*x*` in Slack, `**x**` in Discord), as
  // <strong> around text nodes.
  function bold(text, pattern) {
    const nodes = [];
    let last = 0;
    let match;
    while ((match = pattern.exec(text)) !== null) {
      nodes.push(text.slice(last, match.index), el("strong", {}, match[1]));
      last = pattern.lastIndex;
    }
    nodes.push(text.slice(last));
    return nodes;
  }

  // Slack's mrkdwn: <url|label> and <url> become links, *bold* bold.
  function mrkdwn(text) {
    const nodes = [];
    const pattern = /<([^|>]+)(?:\|([^>]*))?>/g;
    const plain = (part) => bold(part, /\*([^*\n]+)\*/g);
    let last = 0;
    let match;
    text = text || "";
    while ((match = pattern.exec(text)) !== null) {
      nodes.push(...plain(text.slice(last, match.index)));
      nodes.push(/^https?:/.test(match[1]) ? link(match[1], match[2] || match[1]) : match[2] || match[1]);
      last = pattern.lastIndex;
    }
    nodes.push(...plain(text.slice(last)));
    return nodes;
  }

  // Discord's markdown, as far as the bridge writes it: **bold**, [label](url).
  function markdown(text) {
    const nodes = [];
    const pattern = /\[([^\]]*)\]\((https?:[^)\s]+)\)/g;
    const plain = (part) => bold(part, /\*\*([^*\n]+)\*\*/g);
    let last = 0;
    let match;
    text = text || "";
    while ((match = pattern.exec(text)) !== null) {
      nodes.push(...plain(text.slice(last, match.index)), link(match[2], match[1]));
      last = pattern.lastIndex;
    }
    nodes.push(...plain(text.slice(last)));
    return nodes;
  }

  function drawSlack(body) {
    const blocks = (body && body.blocks) || [];
    const drawn = blocks.map((block) => {
      if (block.type === "header") return el("div", { class: "header" }, block.text && block.text.text);
      if (block.type === "context") {
        return el("div", { class: "context" }, (block.elements || []).map((e) => mrkdwn(e.text)));
      }
      if (block.type === "section") {
        return el("div", { class: "section" }, mrkdwn(block.text && block.text.text),
          (block.fields || []).map((f) => el("div", {}, mrkdwn(f.text))));
      }
      if (block.type === "divider") return el("hr");
      return el("div", { class: "note" }, `(${block.type} block)`);
    });
    if (!drawn.length) drawn.push(el("div", { class: "section" }, mrkdwn(body && body.text)));
    return el("div", { class: "slack drawing" }, drawn);
  }

  function drawDiscord(body) {
    const embeds = ((body && body.embeds) || []).map((embed) => {
      const color = Number.isInteger(embed.color) ? "#" + embed.color.toString(16).padStart(6, "0") : "#1e1f22";
      const box = el("div", { class: "embed" },
        embed.author ? el("div", { class: "author" }, embed.author.name) : null,
        embed.title ? el("div", { class: "title" }, embed.url ? link(embed.url, embed.title) : embed.title) : null,
        embed.description ? el("div", { class: "description" }, markdown(embed.description)) : null,
        (embed.fields || []).length ? el("div", { class: "fields" }, embed.fields.map((f) =>
          el("div", {}, el("div", { class: "field-name" }, f.name), el("div", {}, markdown(f.value))))) : null,
        embed.footer ? el("div", { class: "footer" }, embed.footer.text) : null);
      box.style.borderLeftColor = color;
      return box;
    });
    return el("div", { class: "discord drawing" }, body && body.content ? el("div", {}, markdown(body.content)) : null, embeds);
  }

  // ---- The queue ----------------------------------------------------------

  async function refreshQueue() {
    const channels = await api("GET", "/api/channels");
    $("channels").tBodies[0].replaceChildren(...channels.map((channel) => {
      const paused = channel.paused;
      const action = paused
        ? el("button", { type: "button", onclick: () => act("POST", `/api/channels/${encodeURIComponent(channel.name)}/resume`) }, "Resume")
        : el("button", { type: "button", onclick: () => act("POST", `/api/channels/${encodeURIComponent(channel.name)}/pause`, "{}") }, "Pause");
      const replay = el("button", { type: "button", onclick: () => act("POST", "/api/replay", JSON.stringify({ channel: channel.name })) }, "Replay dead");
      return el("tr", { "data-channel": channel.name },
        el("td", {}, channel.name), el("td", {}, channel.kind), el("td", { class: "pending" }, channel.pending),
        el("td", {}, channel.oldest_pending_s === null ? "–" : Math.round(channel.oldest_pending_s) + " s"),
        el("td", { class: paused ? "paused" : "" }, paused ? `paused by ${paused.by}: ${paused.reason}` : "no"),
        el("td", {}, action, " ", replay));
    }));
    const query = new URLSearchParams({ limit: "50" });
    if ($("filter-channel").value) query.set("channel", $("filter-channel").value);
    if ($("filter-status").value) query.set("status", $("filter-status").value);
    const deliveries = await api("GET", "/api/deliveries?" + query);
    $("deliveries").tBodies[0].replaceChildren(...deliveries.map((d) => el("tr", { "data-delivery": String(d.id), "data-status": d.status },
      el("td", {}, d.id), el("td", { class: "status" }, d.status), el("td", {}, d.channel), el("td", {}, d.rule),
      el("td", {}, d.event_id), el("td", {}, d.attempts), el("td", {}, d.last_error || ""),
      el("td", {},
        el("button", { type: "button", class: "attempts", onclick: (event) => showAttempts(d.id, event.currentTarget) }, "Attempts"),
        d.status === "dead"
          ? [" ", el("button", { type: "button", onclick: () => act("POST", `/api/deliveries/${d.id}/retry`) }, "Retry")] : ""))));
  }

  // A delivery's tries, in a row under it.
  async function showAttempts(id, button) {
    const row = button.closest("tr");
    if (row.nextSibling && row.nextSibling.dataset && row.nextSibling.dataset.attemptsOf === String(id)) {
      row.nextSibling.remove();
      return;
    }
    const attempts = await api("GET", `/api/deliveries/${id}/attempts`);
    const lines = attempts.length ? attempts.map((a) => el("li", {},
      `${new Date(a.at).toISOString()} · ${a.status === null ? "no answer" : "HTTP " + a.status} · ${a.latency_ms} ms`,
      a.error ? " · " + a.error : "")) : [el("li", {}, "not tried yet")];
    row.after(el("tr", { "data-attempts-of": String(id) }, el("td", { colSpan: 8 }, el("ul", { class: "tries" }, lines))));
  }

  async function act(method, path, body) {
    try {
      await api(method, path, body, body ? { "Content-Type": "application/json" } : {});
      await refreshQueue();
    } catch (failure) {
      showError(failure.message);
    }
  }

  // ---- Wiring -------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      token = $("token").value.trim();
      $("token").value = "";
      sessionStorage.setItem(KEY, token);
      open().catch((failure) => showError(failure.message));
    });
    $("try-form").addEventListener("submit", (event) => preview(event).catch((failure) => showError(failure.message)));
    $("deliveries-form").addEventListener("submit", (event) => {
      event.preventDefault();
      refreshQueue().catch((failure) => showError(failure.message));
    });
    $("template-file").addEventListener("change", showTemplate);
    $("template-text").addEventListener("input", edited);
    $("template-undo").addEventListener("click", () => {
      delete edits[$("template-file").value];
      showTemplate();
      edited();
    });
    $("template-copy").addEventListener("click", () => {
      const text = $("template-text");
      if (navigator.clipboard) navigator.clipboard.writeText(text.value).catch(() => text.select());
      else text.select();
    });
    $("template-download").addEventListener("click", download);
    $("reroute").addEventListener("click", () => reroute().catch((failure) => showError(failure.message)));
    $("recent").addEventListener("change", () => {
      $("payload").value = "";
      $("reroute").hidden = true;
      $("reroute-result").textContent = "";
    });
    $("nav-try").addEventListener("click", () => show("try"));
    $("nav-queue").addEventListener("click", () => show("queue"));
    $("sign-out").addEventListener("click", signOut);
    if (token) open().catch((failure) => showError(failure.message));
    else show("login");
  });
})();
