#!/usr/bin/env python3
"""Screenshots of the console's views, from the real bridge in headless
Chromium driven over WebDriver (Debian's chromium and chromium-driver).

Usage: console.py STORYBRIDGE OUT_DIR
Writes OUT_DIR/console-try.png (an event tried: verdicts and both drawings),
console-template.png (a template edited in the page) and console-queue.png
(the queue: a paused channel, messages waiting). The bridge runs on loopback
with its own store in a temporary directory; its chat URLs point at a port
nothing listens on, so its messages wait. Nothing leaves the machine.
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "console-screenshot-token-0123456789"
SECRET = "console-screenshot-secret"
FIXTURES = os.path.join(os.path.dirname(__file__), "../../../shared/fixtures/shortcut")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
LOG = None  # the bridge's log, shown when something does not happen


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if body is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def wait_until(probe, what, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception:  # not up yet
            pass
        time.sleep(0.1)
    sys.exit(f"console.py: {what} did not happen ({LOG and open(LOG).read()[-2000:]})")


class Browser:
    def __init__(self, profile):
        port = free_port()
        self.driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: call("GET", f"{base}/status")["value"]["ready"], "chromedriver")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--window-size=1280,1000", f"--user-data-dir={profile}"]
        session = call("POST", f"{base}/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}})
        self.session = f"{base}/session/{session['value']['sessionId']}"

    def command(self, method, path, body=None):
        return call(method, self.session + path, body if method != "GET" else None)["value"]

    def find(self, css):
        return wait_until(lambda: self.command("POST", "/element", {"using": "css selector", "value": css})[ELEMENT],
                          f"an element `{css}`")

    def click(self, css):
        self.command("POST", f"/element/{self.find(css)}/click", {})

    def run(self, script, *args):
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def fill(self, css, text):
        self.run("const e = document.querySelector(arguments[0]); e.value = arguments[1];"
                 "e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change'));", css, text)

    def wait_text(self, css, wanted):
        wait_until(lambda: wanted in self.run("const e = document.querySelector(arguments[0]);"
                                              "return e ? e.innerText : '';", css), f"`{wanted}` in `{css}`")

    def shoot(self, css, path, height):
        """The page from `css` down, `height` pixels of it."""
        self.run("window.scrollTo(0, 0); const e = document.querySelector(arguments[0]);"
                 "window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 8);", css)
        self.run(f"document.body.style.minHeight = '{height + 2000}px';")
        self.command("POST", "/window/rect", {"width": 1280, "height": height})
        time.sleep(0.3)
        with open(path, "wb") as out:
            out.write(base64.b64decode(self.command("GET", "/screenshot")))

    def quit(self):
        try:
            call("DELETE", self.session)
        finally:
            self.driver.kill()


def main():
    binary, out = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    port, nowhere = free_port(), free_port()
    global LOG
    LOG = os.path.join(work, "bridge.log")
    config = os.path.join(work, "bridge.yaml")
    with open(config, "w") as file:
        file.write(f"""listen: "127.0.0.1:{port}"
storage: "sqlite://{work}/bridge.db"
admin_token: "{TOKEN}"
sources:
  shortcut: {{ kind: shortcut, secrets: ["{SECRET}"] }}
channels:
  deploys: {{ kind: slack, url: "http://127.0.0.1:{nowhere}/slack" }}
  team: {{ kind: discord, url: "http://127.0.0.1:{nowhere}/discord" }}
rules:
  - name: ready-for-deploy
    when: {{ entity_type: story, to: {{ state: Ready for Deploy }} }}
    send: [deploys]
  - name: reviews
    when: {{ entity_type: story, to: {{ state: Ready for Review }} }}
    send: [deploys, team]
  - name: new-stories
    when: {{ entity_type: story, action: create }}
    send: [team]
""")
    bridge = subprocess.Popen([binary, "serve", "--config", config], stderr=open(os.path.join(work, "bridge.log"), "w"),
                              env=dict(os.environ, RUST_LOG="warn"))
    browser = None
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200, "the bridge to serve")
        for name in ["zulip_story_update_change_state.json", "zulip_story_create.json"]:
            body = open(os.path.join(FIXTURES, name), "rb").read()
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            call("POST", f"{base}/hooks/shortcut", body, {"Payload-Signature": signature,
                                                          "Content-Type": "application/json"})
        admin = {"Authorization": f"Bearer {TOKEN}"}
        call("POST", f"{base}/api/channels/team/pause", {"reason": "release freeze until 15:00"}, admin)

        browser = Browser(os.path.join(work, "profile"))
        browser.command("POST", "/url", {"url": f"{base}/console"})
        browser.fill("#token", TOKEN)
        browser.click("#open")
        browser.wait_text("#source", "shortcut")
        browser.fill("#source", "shortcut")
        browser.fill("#payload", open(os.path.join(FIXTURES, "zulip_story_update_change_state.json")).read())
        browser.click("#preview")
        browser.wait_text("#result", "Block Kit Builder")
        browser.shoot("#result", os.path.join(out, "console-try.png"), 900)

        browser.fill("#template-file", "details.hbs")
        details = browser.run("return document.querySelector('#template-text').value;")
        browser.fill("#template-text", details.replace("• {{bold label}}:", "▸ {{bold label}} now", 1))
        browser.wait_text("#result", "now")
        browser.shoot("#editor", os.path.join(out, "console-template.png"), 1000)

        browser.click("#nav-queue")
        browser.wait_text("#channels", "release freeze")
        browser.wait_text("#deliveries", "deploys")
        browser.shoot("#view-queue", os.path.join(out, "console-queue.png"), 560)
    finally:
        if browser:
            browser.quit()
        bridge.terminate()
        bridge.wait()


if __name__ == "__main__":
    main()
