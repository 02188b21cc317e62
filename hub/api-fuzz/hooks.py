"""schemathesis hooks of `make api-fuzz` (loaded with SCHEMATHESIS_HOOKS=hooks by run.sh).

- Auth: the pass's role (DABBA_FUZZ_ROLE: customer, restaurant, agent, operator; anonymous sends no token) signs
  in with the seeded account and sends its access token as `Authorization: Bearer`. The token is fetched again
  after a 401 (the operator's pass may revoke its own tokens) and every 10 minutes.
- Egress: every webhook URL the fuzzer registers is pointed at the run's local receiver on 127.0.0.1 (scheme, path
  and query kept), so the hub never sends a delivery, or resolves a name, anywhere but loopback.
- Payment provider events: most bodies sent to /v1/payments/webhooks/{provider} carry a valid `Dabba-Signature`
  (HMAC with the run's secret over the exact bytes sent), so the handler behind the signature check is fuzzed too.
"""

import hashlib
import hmac
import json
import os
import random
import time
import urllib.parse

import requests
import schemathesis

ROLE = os.environ.get("DABBA_FUZZ_ROLE", "anonymous")
RUN_DIR = os.environ["DABBA_FUZZ_DIR"]
BASE = os.environ["DABBA_FUZZ_BASE"]
with open(os.path.join(RUN_DIR, "seed.json")) as f:
    SEED = json.load(f)
with open(os.path.join(RUN_DIR, "payment-webhook.secret")) as f:
    PAYMENT_SECRET = f.read().strip()
_signing = random.Random(int(os.environ.get("API_FUZZ_SEED", "1")))

if ROLE != "anonymous":

    @schemathesis.auth(refresh_interval=600)
    class RoleToken:
        """The access token of the pass's role, from POST /v1/auth/login."""

        def get(self, case, context):
            email = SEED["users"][ROLE]
            response = requests.post(
                BASE + "/v1/auth/login", json={"email": email, "password": SEED["password"]}, timeout=60)
            response.raise_for_status()
            return response.json()["accessToken"]

        def set(self, case, data, context):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"


def _loopback(url):
    """The URL with its host and port replaced by the local receiver's; anything unparsable is left alone (the hub
    refuses it before any lookup)."""
    if not isinstance(url, str):
        return url
    try:
        parts = urllib.parse.urlsplit(url)
        if not parts.netloc:
            return url
        return urllib.parse.urlunsplit(
            (parts.scheme, f"127.0.0.1:{SEED['webhookPort']}", parts.path, parts.query, parts.fragment))
    except ValueError:
        return url


@schemathesis.hook
def before_call(context, case, kwargs):
    path, method = case.operation.path, case.method.upper()
    if path == "/v1/webhooks" and method == "POST":
        if isinstance(case.body, dict) and "url" in case.body:
            case.body = {**case.body, "url": _loopback(case.body["url"])}
    elif path == "/v1/payments/webhooks/{provider}" and method == "POST" and isinstance(case.body, dict):
        if _signing.random() < 0.75:
            # The transport sends the body as requests' json= does: json.dumps with the default separators.
            raw = json.dumps(case.body, allow_nan=False).encode()
            stamp = str(int(time.time()))
            mac = hmac.new(PAYMENT_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
            case.headers = {**(case.headers or {}), "Dabba-Signature": f"t={stamp},v1={mac}"}
