#!/usr/bin/env python3
"""Runs the real bridge against a stand-in for Slack's Web API and Discord,
posts tracker events to it, and writes every request it made, in order.

Usage: capture.py STORYBRIDGE CONFIG OUT.json SOURCE FIXTURE...
The config reads ${FAKE} (the stand-in's base URL) and ${LISTEN}. The
stand-in answers as the platforms do: Slack with its channel id and a new
`ts` per message, Discord with a message id and its channel (a forum post's
own thread). Nothing leaves the machine.
"""
import http.server
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

requests = []
counter = itertools.count(1)


class Fake(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path, _, query = self.path.partition("?")
        requests.append({"method": self.command, "path": path, "query": query, "body": body})
        n = next(counter)
        if path.startswith(("/api/", "/cards/")):
            reply = {"ok": True, "channel": "C0TEAM", "ts": body.get("ts") or f"1700000000.{n:06d}"}
        elif self.command == "PATCH":
            reply = {"id": path.rsplit("/", 1)[1], "channel_id": "100"}
        else:
            reply = {"id": str(n), "channel_id": "100"}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = answer
    do_PATCH = answer


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    binary, config, out_path, source, *fixtures = sys.argv[1:]
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    listen = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, FAKE=f"http://127.0.0.1:{fake.server_port}", LISTEN=listen)
    bridge = subprocess.Popen([binary, "serve", "--config", config], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://{listen}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        for fixture in fixtures:
            body = open(fixture, "rb").read()
            request = urllib.request.Request(
                f"http://{listen}/hooks/{source}", data=body, headers={"content-type": "application/json"}
            )
            urllib.request.urlopen(request)
            # One event's messages at a time, so each card edit shows one more change.
            settle(len(requests))
    finally:
        bridge.terminate()
        bridge.wait()
    json.dump(requests, open(out_path, "w", encoding="utf-8"), ensure_ascii=False, indent=1)


def settle(before):
    """Waits (up to 5 s) for a request after the first `before`, then until none came for 0.3 s."""
    deadline = time.time() + 5
    while len(requests) == before and time.time() < deadline:
        time.sleep(0.05)
    count = -1
    while count != len(requests):
        count = len(requests)
        time.sleep(0.3)


if __name__ == "__main__":
    main()
