"""A webhook receiver for the outbox tests that checks each request's signature as the
Standard Webhooks specification says, written from the specification alone: HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the base64 key after `whsec_`, compared with
each `v1,` signature of `webhook-signature`. The secret is read from FOLDER/secret at each
request (the test writes it once the endpoint is added). Each request is written as one JSON
file: its id, timestamp, whether the signature verified, and the body.

    python3 webhook_sink.py FOLDER

Prints `PORT <n>` once it listens.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FOLDER = sys.argv[1]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "")
        signatures = self.headers.get("webhook-signature", "").split(" ")
        with open(os.path.join(FOLDER, "secret")) as f:
            secret = f.read().strip()
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = base64.b64encode(
            hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        ).decode()
        verified = any(
            s.startswith("v1,") and hmac.compare_digest(s[3:], expected) for s in signatures
        )
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        record = {
            "id": msg_id,
            "verified": verified and fresh,
            "body": json.loads(body),
        }
        name = os.path.join(FOLDER, f"{uuid.uuid4()}.json")
        with open(name + ".partial", "w") as out:
            json.dump(record, out)
        os.rename(name + ".partial", name)
        self.send_response(204 if verified else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


os.makedirs(FOLDER, exist_ok=True)
server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
