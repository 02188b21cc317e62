#!/usr/bin/env python3
"""Part of `make demo`: a webhook receiver on 127.0.0.1:PORT that prints one line per delivery (event id, order,
status) and answers 204. The demo hub may post to loopback because it runs with --webhook-allow-hosts 127.0.0.1."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        try:
            event = json.loads(body).get("event", {})
        except ValueError:
            event = {}
        print("webhook", self.headers.get("Dabba-Event-Id"), event.get("order"), event.get("status"), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
