"""Fixtures of the webhook tests: a local HTTP receiver, subscriptions and API keys.

The receiver is a real ``ThreadingHTTPServer`` on 127.0.0.1, so deliveries go over HTTP as
they do in production; private addresses are allowed for it through the ``settings`` fixture.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from loyalty.api_base import api_key_create
from loyalty.models import ApiKey
from loyalty.webhooks import webhook_subscription_create


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the test's HTTP server received; ``status`` is what it answers next."""

    url: str = ""
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with receiver.lock:
                receiver.requests.append(Received(dict(self.headers.items()), body))
                status = receiver.status
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"receiver is unhappy")

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture
def allow_private(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def receiver(allow_private):
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/loyalty"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def closed_port_url(allow_private):
    """A URL on 127.0.0.1 where nothing listens: the receiver is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


@pytest.fixture
def subscription(receiver, program):
    return webhook_subscription_create(name="Web shop", url=receiver.url)


class JsonClient:
    """A test client that sends an API key and JSON bodies."""

    def __init__(self, key_text: str):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {key_text}"}

    def get(self, url, data=None):
        return self.client.get(url, data, headers=self.headers)

    def post(self, url, body):
        return self.client.post(
            url, json.dumps(body), content_type="application/json", headers=self.headers
        )

    def patch(self, url, body):
        return self.client.patch(
            url, json.dumps(body), content_type="application/json", headers=self.headers
        )

    def delete(self, url):
        return self.client.delete(url, headers=self.headers)


@pytest.fixture
def make_client(location):
    """Return a JSON client for a new key with the given permissions (and partner)."""

    def make(permissions=(ApiKey.Permission.MANAGE_WEBHOOKS,), partner=None, name="Web shop"):
        key, text = api_key_create(
            name=name,
            permissions=list(permissions),
            location=None if partner else location,
            partner=partner,
        )
        client = JsonClient(text)
        client.key = key
        return client

    return make
