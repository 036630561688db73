"""A local stand-in for Bot Framework's identity services, for real JWT validation offline
(the certificate and key shapes are the operations view's local provider's, ops/devidp.py).

It serves, over HTTPS on 127.0.0.1 in its own thread (the SDK fetches OpenID metadata with
blocking `requests`, so a server on the bot's event loop would deadlock): the channel's OpenID
metadata and signing keys (with endorsements), and an Entra-like authority with a token
endpoint for the bot's outbound tokens. `mint()` signs channel tokens with its RS256 key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from ops.devidp import public_jwk, self_signed_certificate

CHANNEL_ISSUER = "https://api.botframework.com"
#: The bot's app id in tests that run with authentication on.
APP_ID = "00000000-0000-0000-0000-00000000c0de"


class FakeIdentity:
    """OpenID metadata + JWKS for inbound tokens and a token endpoint for outbound ones."""

    def __init__(self, directory: Path, channel_id: str = "msteams") -> None:
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.channel_id = channel_id
        self.token_requests = 0
        self._tokens = itertools.count(1)
        self.cert_file, key_file = self_signed_certificate(directory)
        identity = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                base = identity.url
                if self.path.endswith("/keys"):
                    key = public_jwk(
                        identity.signing_key, identity.kid, endorsements=[identity.channel_id]
                    )
                    self._json({"keys": [key]})
                elif "openid" in self.path and self.path.startswith("/channel/"):
                    self._json({"issuer": CHANNEL_ISSUER, "jwks_uri": f"{base}/channel/keys"})
                elif "openid-configuration" in self.path:
                    tenant = self.path.split("/")[1]
                    self._json(
                        {
                            "issuer": f"{base}/{tenant}/v2.0",
                            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                        }
                    )
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/oauth2/v2.0/token"):
                    identity.token_requests += 1
                    self._json(
                        {
                            "token_type": "Bearer",
                            "expires_in": 3600,
                            "access_token": f"outbound-token-{next(identity._tokens)}",
                        }
                    )
                else:
                    self.send_error(404)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeIdentity:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def sdk_endpoints(self) -> dict[str, str]:
        """The SDK's endpoint overrides pointing at this server."""
        return {
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": f"{self.url}/channel/openid-configuration",
            "TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL": f"{self.url}/channel/openid-configuration",
            "TO_CHANNEL_FROM_BOT_LOGIN_URL": f"{self.url}/botframework.com",
            "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": "https://api.botframework.com",
            "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": CHANNEL_ISSUER,
        }

    def mint(self, app_id: str, service_url: str, *, key: Any = None, **claims: Any) -> str:
        """A channel token for `app_id`, signed with this server's key unless `key` is given."""
        now = dt.datetime.now(dt.UTC)
        body = {
            "iss": CHANNEL_ISSUER,
            "aud": app_id,
            "serviceurl": service_url,
            "nbf": now - dt.timedelta(minutes=1),
            "exp": now + dt.timedelta(minutes=30),
            **claims,
        }
        return jwt.encode(
            body, key or self.signing_key, algorithm="RS256", headers={"kid": self.kid}
        )
