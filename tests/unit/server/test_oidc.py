"""Single sign-on with OpenID Connect (authorization code + PKCE S256) against a fake issuer.

The issuer is this test's own double of the protocol, served over loopback HTTP by a thread:
discovery document, authorization endpoint (which signs in whoever the test says and
redirects with a code), token endpoint (which checks the client secret, the redirect URI and
the PKCE verifier against the challenge, and answers a signed ID token) and JWKS. The tweaks
make it misbehave in the ways a real attacker or a misconfigured provider would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from attonix.server.app import create_app
from attonix.server.context import ServerContext, build_context
from attonix.server.db.models import AuditEntry, User

V = "/api/v1"
CLIENT_ID = "attonix-console"
CLIENT_SECRET = "client-secret-7d1f-never-shown"
REDIRECT = "http://127.0.0.1:8081/sso/callback"


@dataclass
class FakeIssuer:
    """State of the fake provider; ``tweaks`` change what its tokens say."""

    url: str = ""
    user: str = "sso-sam"
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    tweaks: set[str] = field(default_factory=set)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    other_key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def id_token(self, grant: dict[str, str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": f"uid-{self.user}",
            "aud": "someone-else" if "wrong_aud" in self.tweaks else CLIENT_ID,
            "iat": now - (7200 if "expired" in self.tweaks else 0),
            "exp": now + (-3600 if "expired" in self.tweaks else 300),
            "nonce": "not-the-nonce" if "wrong_nonce" in self.tweaks else grant["nonce"],
            "preferred_username": self.user,
            "amr": self.amr,
        }
        key = self.other_key if "other_key" in self.tweaks else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def _handler(issuer: FakeIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(parts.query))
            if parts.path == "/.well-known/openid-configuration":
                self._json(
                    200,
                    {
                        "issuer": issuer.url,
                        "authorization_endpoint": f"{issuer.url}/authorize",
                        "token_endpoint": f"{issuer.url}/token",
                        "jwks_uri": f"{issuer.url}/jwks",
                        "response_types_supported": ["code"],
                        "code_challenge_methods_supported": ["S256"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    },
                )
            elif parts.path == "/jwks":
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()))
                self._json(200, {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
            elif parts.path == "/authorize":
                ok = (
                    q.get("response_type") == "code"
                    and q.get("client_id") == CLIENT_ID
                    and q.get("redirect_uri") == REDIRECT
                    and q.get("code_challenge_method") == "S256"
                    and "openid" in q.get("scope", "").split()
                )
                if not ok:
                    self._json(400, {"error": "invalid_request"})
                    return
                code = secrets.token_urlsafe(16)
                issuer.codes[code] = {
                    "challenge": q["code_challenge"],
                    "nonce": q["nonce"],
                    "redirect_uri": q["redirect_uri"],
                }
                target = f"{REDIRECT}?{urllib.parse.urlencode({'code': code, 'state': q['state']})}"
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/token":
                self._json(404, {"error": "not_found"})
                return
            form = dict(
                urllib.parse.parse_qsl(
                    self.rfile.read(int(self.headers["Content-Length"])).decode()
                )
            )
            issuer.token_requests.append(form)
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {basic}":
                self._json(401, {"error": "invalid_client"})
                return
            grant = issuer.codes.pop(form.get("code", ""), None)  # a code works once
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if (
                grant is None
                or form.get("grant_type") != "authorization_code"
                or form.get("redirect_uri") != grant["redirect_uri"]
                or challenge != grant["challenge"]
            ):
                self._json(400, {"error": "invalid_grant", "error_description": verifier})
                return
            self._json(
                200,
                {"access_token": "at", "token_type": "Bearer", "id_token": issuer.id_token(grant)},
            )

    return Handler


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    fake = FakeIssuer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def sso(ctx: ServerContext, issuer: FakeIssuer, kit: Any) -> Iterator[TestClient]:
    settings = kit.settings(
        oidc_issuer=issuer.url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
        oidc_redirect_uri=REDIRECT,
    )
    with TestClient(create_app(settings, ctx=build_context(settings, db=ctx.db))) as c:
        yield c


def _browser(authorization_url: str) -> dict[str, str]:
    """What a browser does: follow the authorization URL, land on the callback's query."""
    r = httpx.get(authorization_url, follow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def _sign_in(client: TestClient) -> tuple[dict[str, Any], Any]:
    start = client.post(f"{V}/auth/oidc/start")
    assert start.status_code == 200, start.text
    back = _browser(start.json()["authorization_url"])
    assert back["state"] == start.json()["state"]
    return back, client.post(f"{V}/auth/oidc/callback", json=back)


def test_sign_in_with_the_provider_gives_a_working_session(
    ctx: ServerContext, sso: TestClient, kit: Any, issuer: FakeIssuer
) -> None:
    kit.add_user("sso-sam")
    start = sso.post(f"{V}/auth/oidc/start").json()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start["authorization_url"]).query))
    assert start["authorization_url"].startswith(f"{issuer.url}/authorize?")
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == REDIRECT and query["state"] == start["state"]
    back = _browser(start["authorization_url"])
    r = sso.post(f"{V}/auth/oidc/callback", json=back)
    assert r.status_code == 200, r.text
    tokens = r.json()["tokens"]
    me = sso.get(f"{V}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["name"] == "sso-sam"
    # The verifier travelled to the token endpoint only, sealed inside the state until then.
    verifier = issuer.token_requests[-1]["code_verifier"]
    assert verifier not in start["state"] and verifier not in start["authorization_url"]
    with ctx.db.session() as s:
        entry = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "auth.login")
                .order_by(AuditEntry.seq.desc())
            )
            .scalars()
            .first()
        )
        assert entry is not None and entry.actor == "sso-sam"
        assert entry.detail["method"] == "oidc" and entry.outcome == "success"
    # The code works once: a replay is refused by the provider, and so by the server.
    again = sso.post(f"{V}/auth/oidc/callback", json=back)
    assert again.status_code == 401 and "invalid_grant" in again.json()["detail"]
    assert CLIENT_SECRET not in again.text and verifier not in again.text


def test_a_stolen_code_without_its_verifier_is_useless(
    sso: TestClient, kit: Any, issuer: FakeIssuer
) -> None:
    kit.add_user("sso-sam")
    victim = _browser(sso.post(f"{V}/auth/oidc/start").json()["authorization_url"])
    attacker_state = sso.post(f"{V}/auth/oidc/start").json()["state"]
    r = sso.post(f"{V}/auth/oidc/callback", json={"code": victim["code"], "state": attacker_state})
    assert r.status_code == 401 and "refused the sign-in code" in r.json()["detail"]


@pytest.mark.parametrize(
    ("tweak", "message"),
    [
        ("wrong_nonce", "nonce mismatch"),
        ("wrong_aud", "another client"),
        ("expired", "expired"),
        ("other_key", "signature is invalid"),
    ],
)
def test_id_tokens_that_are_not_right_are_refused(
    sso: TestClient, kit: Any, issuer: FakeIssuer, tweak: str, message: str
) -> None:
    kit.add_user("sso-sam")
    issuer.tweaks.add(tweak)
    _, r = _sign_in(sso)
    assert r.status_code == 401, r.text
    assert message in r.json()["detail"]
    assert "tokens" not in r.text


def test_a_tampered_state_and_an_unknown_person_are_refused(
    ctx: ServerContext, sso: TestClient, kit: Any, issuer: FakeIssuer
) -> None:
    kit.add_user("sso-sam")
    start = sso.post(f"{V}/auth/oidc/start").json()
    back = _browser(start["authorization_url"])
    forged = back["state"][:-4] + ("AAAA" if not back["state"].endswith("AAAA") else "BBBB")
    r = sso.post(f"{V}/auth/oidc/callback", json={"code": back["code"], "state": forged})
    assert r.status_code == 401 and "state is not valid" in r.json()["detail"]

    issuer.user = "nobody-here"
    _, r = _sign_in(sso)
    assert r.status_code == 401 and "No active Attonix account" in r.json()["detail"]
    with ctx.db.session() as s:
        sam = s.execute(select(User).where(User.name == "sso-sam")).scalar_one()
        sam.disabled = True
    issuer.user = "sso-sam"
    _, r = _sign_in(sso)
    assert r.status_code == 401


def test_second_factor_from_the_provider_or_ours(
    sso: TestClient, kit: Any, issuer: FakeIssuer
) -> None:
    from attonix.server.security.totp import totp_now

    secret = kit.add_user("sso-sam", mfa=True)
    _, r = _sign_in(sso)  # the provider says "pwd" only: our second factor follows
    assert r.status_code == 200 and r.json()["mfa_required"] is True
    done = sso.post(
        f"{V}/auth/mfa", json={"mfa_token": r.json()["mfa_token"], "code": totp_now(secret)}
    )
    assert done.status_code == 200 and done.json()["restricted"] == ""

    issuer.amr = ["pwd", "otp"]
    _, r = _sign_in(sso)
    assert r.status_code == 200 and r.json()["tokens"]["restricted"] == ""


def test_single_sign_on_off_when_not_configured(client: TestClient) -> None:
    r = client.post(f"{V}/auth/oidc/start")
    assert r.status_code == 400 and "not configured" in r.json()["detail"]
