"""A real SMTP server for the outbox tests: aiosmtpd, each message received parsed with
Python's own e-mail parser and written as one JSON file into a folder.

    python3 smtp_sink.py FOLDER [PORT]

Prints `PORT <n>` once it accepts connections; stops on SIGTERM.
"""
import email
import email.policy
import json
import os
import signal
import socket
import sys
import threading
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_maintype() == "text":
                parts[part.get_content_type()] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "message_id": str(message["Message-ID"]),
            "content_language": str(message["Content-Language"]),
            "content_type": message.get_content_type(),
            "text": parts.get("text/plain", ""),
            "html": parts.get("text/html", ""),
        }
        name = os.path.join(self.folder, f"{uuid.uuid4()}.json")
        with open(name + ".partial", "w") as out:
            json.dump(record, out)
        os.rename(name + ".partial", name)
        return "250 Message accepted for delivery"


def main():
    folder = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    os.makedirs(folder, exist_ok=True)
    if port == 0:
        # aiosmtpd checks it is up by connecting to the port it was given, so give it one.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


main()
