"""Scripts on the JSON API with an Entra ID access token (`Authorization: Bearer`): tokens from
the development provider's token endpoint (over HTTPS, as a script gets them) or signed with its
published key, checked by the production code against its keys over HTTP. A token sees what
the same person sees with a cookie, only on /ops/api/v1, and every forged, stale or misdirected
one is refused without being echoed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import re
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import msal
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ops.devidp import DevIdentityProvider, Persona
from tests.ops.conftest import (
    PERSONAS,
    RunningOps,
    StartOps,
    chat_straight_to_legal,
    chat_to_legal_through_hr,
    ops_config,
)
from tests.support.ports import unused_port

ROOT = Path(__file__).resolve().parents[2]

CHALLENGE = 'Bearer realm="crossdesk-ops"'


def persona(name: str) -> Persona:
    (found,) = [
        Persona.named(p["name"], p["username"], p["roles"]) for p in PERSONAS if p["name"] == name
    ]
    return found


async def token_endpoint(provider: DevIdentityProvider, form: dict[str, str]) -> tuple[int, Any]:
    """POST to the development provider's token endpoint, as a script would."""
    context = ssl.create_default_context(cafile=str(provider.cert_file))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http,
        http.post(provider.token_endpoint, data=form) as response,
    ):
        return response.status, await response.json()


async def delegated_token(ops: RunningOps, name: str) -> str:
    """A delegated token for a persona, from the provider's development grant."""
    status, answer = await token_endpoint(
        ops.provider,
        {
            "grant_type": "urn:crossdesk:dev:persona",
            "username": persona(name).username,
            "scope": f"api://{ops.provider.client_id}/Ops.Read",
        },
    )
    assert status == 200, answer
    token: str = answer["access_token"]
    return token


def app_only_token_with_msal(provider: DevIdentityProvider, name: str) -> str:
    """What a script does in production: msal's client credentials flow (here the persona's
    sign-in name stands for the script app's client id)."""
    http = requests.Session()
    http.trust_env = False
    http.verify = str(provider.cert_file)
    try:
        app = msal.ConfidentialClientApplication(
            persona(name).username,
            client_credential="any secret: the development provider trusts loopback",
            authority=provider.authority,
            validate_authority=False,
            instance_discovery=False,
            http_client=http,
        )
        result = app.acquire_token_for_client(scopes=[f"api://{provider.client_id}/.default"])
    finally:
        http.close()
    assert "access_token" in result, result
    token: str = result["access_token"]
    return token


async def call(
    ops: RunningOps, path: str, authorization: str | None, *, signed_in_as: str | None = None
) -> tuple[aiohttp.ClientResponse, str]:
    """GET `path` with an Authorization header (from a browser signed in as `signed_in_as`,
    when named, so its session cookie goes along)."""
    browser = ops.browser()
    if signed_in_as is not None:
        await browser.sign_in(signed_in_as)
    headers = {} if authorization is None else {"Authorization": authorization}
    async with browser.http.get(
        browser.url(path), headers=headers, allow_redirects=False
    ) as response:
        return response, await response.text()


async def api(ops: RunningOps, path: str, token: str) -> tuple[int, Any]:
    response, text = await call(ops, f"/ops/api/v1{path}", f"Bearer {token}")
    return response.status, json.loads(text)


async def as_cookie(ops: RunningOps, name: str, path: str) -> tuple[int, Any]:
    browser = ops.browser()
    await browser.sign_in(name)
    return await browser.json(f"/ops/api/v1{path}")


async def audit_log(ops: RunningOps) -> list[dict[str, Any]]:
    status, body = await as_cookie(ops, "Ada Admin", "/audit")
    assert status == 200
    entries: list[dict[str, Any]] = body["entries"]
    return entries


# what a valid token sees


async def test_a_delegated_token_sees_exactly_what_the_person_sees_in_the_browser(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    token = await delegated_token(ops, "Rita Reader")

    status, me = await api(ops, "/me", token)
    assert status == 200
    assert (me["name"], me["username"]) == ("Rita Reader", "rita@contoso.example")
    assert me["appOnly"] is False
    assert me["scope"] == {
        "admin": False,
        "departments": ["hr"],
        "transcripts": ["hr"],
        "reports": [],
    }

    path = f"/conversations/{chat.conversation_id}"
    status, by_token = await api(ops, path, token)
    assert status == 200
    assert (status, by_token) == await as_cookie(ops, "Rita Reader", path)
    hr = by_token["sessions"][1]
    assert "Overtime for March is missing" in [e["text"] for e in hr["transcript"]]
    assert "Is my contract's overtime clause legal" not in json.dumps(by_token)

    # Both reads of message text are audited, the script's as the same person.
    assert [(e["who"], e["tenants"]) for e in await audit_log(ops)] == [
        ("rita@contoso.example", ["hr"]),
        ("rita@contoso.example", ["hr"]),
    ]


async def test_an_app_only_token_with_the_admin_role_sees_every_department(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    token = await asyncio.to_thread(app_only_token_with_msal, ops.provider, "Ada Admin")

    status, body = await api(ops, f"/conversations/{chat.conversation_id}", token)
    assert status == 200
    assert [s["tenant"] for s in body["sessions"]] == ["helpdesk", "hr", "legal"]
    assert all(s["transcript"] is None for s in body["sessions"])
    status, me = await api(ops, "/me", token)
    assert (me["appOnly"], me["app"], me["name"]) == (True, persona("Ada Admin").app_id, "")
    status, audit = await api(ops, "/audit", token)
    assert (status, audit) == (200, {"entries": []})


async def test_an_app_s_transcript_read_is_audited_under_the_app_s_client_id(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    token = await asyncio.to_thread(app_only_token_with_msal, ops.provider, "Rita Reader")
    status, body = await api(ops, f"/conversations/{chat.conversation_id}", token)
    assert (status, body["transcripts_shown"]) == (200, ["hr"])
    (entry,) = await audit_log(ops)
    app_id = persona("Rita Reader").app_id
    assert (entry["who"], entry["whoId"]) == (f"app:{app_id}", app_id)
    assert entry["conversation"] == chat.conversation_id


async def test_a_v1_token_as_entra_issues_for_an_api_without_accepted_version_is_taken(
    ops: RunningOps,
) -> None:
    """An app registration's `accessTokenAcceptedVersion` is null unless changed: Entra then
    issues v1.0 tokens (`sts` issuer, `appid`, `upn`, the Application ID URI as audience)."""
    rita = persona("Rita Reader")
    v1 = {
        "iss": ops.provider.v1_issuer,
        "aud": f"api://{ops.provider.client_id}",
        "ver": "1.0",
        "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "azp": None,
        "preferred_username": None,
        "upn": rita.username,
        "idtyp": None,
    }
    token = ops.provider.access_token(rita, claims=v1)
    status, me = await api(ops, "/me", token)
    assert status == 200, me
    assert (me["username"], me["app"]) == (rita.username, v1["appid"])


# refused


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(provider: DevIdentityProvider, alg: str) -> tuple[str, bytes]:
    """The header and claims of a valid delegated token, under `alg`, and the signing input."""
    valid = provider.access_token(persona("Ada Admin"))
    claims = json.loads(base64.urlsafe_b64decode(valid.split(".")[1] + "=="))
    header = {"alg": alg, "typ": "JWT", "kid": provider.kid}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return signing_input, signing_input.encode()


def alg_none(provider: DevIdentityProvider) -> str:
    signing_input, _ = _unsigned(provider, "none")
    return f"{signing_input}."


def hs256_with_the_public_key(provider: DevIdentityProvider) -> str:
    signing_input, raw = _unsigned(provider, "HS256")
    secret = provider.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"{signing_input}.{_b64(hmac.new(secret, raw, hashlib.sha256).digest())}"


def forged_signature(provider: DevIdentityProvider) -> str:
    provider.forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        return provider.access_token(persona("Ada Admin"))
    finally:
        provider.forged_key = None


def with_claims(**claims: Any) -> Any:
    return lambda provider: provider.access_token(persona("Ada Admin"), claims=claims)


def hours(n: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=n)


def an_id_token(provider: DevIdentityProvider) -> str:
    return provider.id_token(persona("Ada Admin"), None, provider.client_id)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(
            with_claims(aud="another-app"), "the access token is for another app (aud)", id="aud"
        ),
        pytest.param(
            with_claims(iss="https://login.example/other/v2.0"),
            "the access token is from another issuer (iss)",
            id="iss",
        ),
        pytest.param(
            with_claims(tid="0badc0de-0000-4000-8000-000000000000"),
            "the access token is from another directory (tid)",
            id="tid",
        ),
        pytest.param(
            with_claims(iat=hours(-3), nbf=hours(-3), exp=hours(-1)),
            "the access token has expired",
            id="expired",
        ),
        pytest.param(
            with_claims(nbf=hours(1), exp=hours(2)),
            "the access token is not valid yet",
            id="not yet valid",
        ),
        pytest.param(
            forged_signature, "the access token's signature is not the provider's", id="signature"
        ),
        pytest.param(alg_none, "the access token is not signed with RS256", id="alg none"),
        pytest.param(
            hs256_with_the_public_key,
            "the access token is not signed with RS256",
            id="HS256 with the public key",
        ),
        pytest.param(
            an_id_token,
            "not an access token: it names no calling application (azp)",
            id="an ID token",
        ),
        pytest.param(lambda provider: "not.a.jwt", "the access token is malformed", id="malformed"),
    ],
)
async def test_a_forged_stale_or_misdirected_token_is_refused_with_401(
    ops: RunningOps, make: Any, reason: str
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    token = make(ops.provider)
    response, text = await call(
        ops, f"/ops/api/v1/conversations/{chat.conversation_id}", f"Bearer {token}"
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == f'{CHALLENGE}, error="invalid_token"'
    assert json.loads(text) == {"error": reason}
    assert "Overtime" not in text


async def test_a_token_signed_with_an_unpublished_key_id_is_refused(ops: RunningOps) -> None:
    token = ops.provider.access_token(persona("Ada Admin"))
    status, body = await api(ops, "/me", relabelled(token, "not-published"))
    assert (status, body) == (
        401,
        {"error": "the access token is signed with a key the provider does not publish"},
    )


def relabelled(token: str, kid: str) -> str:
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
    return ".".join([header, *token.split(".")[1:]])


async def test_made_up_key_ids_do_not_make_crossdesk_fetch_the_keys_each_time(
    start_ops: StartOps,
) -> None:
    """Anyone can send a token with a new `kid`: the keys are fetched again for one at most
    every five minutes (keys roll over), not once per request."""
    now = [datetime.now(UTC)]
    ops = await start_ops(clock=lambda: now[0])
    token = ops.provider.access_token(persona("Ada Admin"))
    assert (await api(ops, "/me", token))[0] == 200
    assert ops.provider.keys_served == 1
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        assert (await api(ops, "/me", relabelled(token, kid)))[0] == 401
    assert ops.provider.keys_served == 1
    now[0] += timedelta(minutes=6)
    assert (await api(ops, "/me", relabelled(token, "made-up-4")))[0] == 401
    assert ops.provider.keys_served == 2
    assert (await api(ops, "/me", relabelled(token, "made-up-5")))[0] == 401
    assert ops.provider.keys_served == 2


@pytest.mark.parametrize(
    ("roles", "claims", "reason"),
    [
        pytest.param((), {}, "the access token carries no app role that ops.roles maps", id="none"),
        pytest.param(
            ("Crossdesk.Unknown",),
            {},
            "the access token carries no app role that ops.roles maps",
            id="unmapped",
        ),
        pytest.param(
            ("Crossdesk.Admin",),
            {"scp": "User.Read"},
            "the access token does not grant the scope Ops.Read (scp)",
            id="other scope",
        ),
    ],
)
async def test_a_valid_token_that_grants_nothing_here_is_refused_with_403(
    ops: RunningOps, roles: tuple[str, ...], claims: dict[str, str], reason: str
) -> None:
    token = ops.provider.access_token(Persona.named("Nora Norole", roles=roles), claims=claims)
    response, text = await call(ops, "/ops/api/v1/me", f"Bearer {token}")
    assert response.status == 403
    assert response.headers["WWW-Authenticate"] == (
        f'{CHALLENGE}, error="insufficient_scope", scope="Ops.Read"'
    )
    assert json.loads(text) == {"error": reason}


async def test_another_department_s_chat_is_404_exactly_as_with_a_cookie(ops: RunningOps) -> None:
    chat = await chat_straight_to_legal(ops)
    path = f"/conversations/{chat.conversation_id}"
    by_token = await api(ops, path, await delegated_token(ops, "Hana Hr"))
    assert by_token == (404, {"error": "no such chat"})
    assert by_token == await as_cookie(ops, "Hana Hr", path)


# only the API, only the header


async def test_a_bearer_token_on_a_page_is_not_a_credential_it_is_sent_to_sign_in(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    token = await delegated_token(ops, "Ada Admin")
    for page in ("/ops/", f"/ops/chats/{chat.conversation_id}", "/ops/live/stream"):
        response, _ = await call(ops, page, f"Bearer {token}")
        assert response.status == 302, page
        assert response.headers["Location"].startswith("/ops/auth/login?next=")


async def test_with_an_authorization_header_the_session_cookie_is_not_considered(
    ops: RunningOps,
) -> None:
    expired = ops.provider.access_token(persona("Ada Admin"), claims={"exp": hours(-1)})
    response, text = await call(
        ops, "/ops/api/v1/me", f"Bearer {expired}", signed_in_as="Ada Admin"
    )
    assert (response.status, json.loads(text)) == (401, {"error": "the access token has expired"})

    response, text = await call(
        ops, "/ops/api/v1/me", "Basic YWRhOnNlY3JldA==", signed_in_as="Ada Admin"
    )
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE  # no error code: not a token
    assert json.loads(text) == {"error": "only Authorization: Bearer <access token> is accepted"}


async def test_without_any_credential_the_api_asks_for_a_bearer_token(ops: RunningOps) -> None:
    response, text = await call(ops, "/ops/api/v1/me", None)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert json.loads(text) == {
        "error": "sign in first: open /ops/ in a browser, or send an access token (README)"
    }


async def test_no_token_reaches_the_logs(ops: RunningOps, caplog: pytest.LogCaptureFixture) -> None:
    valid = await delegated_token(ops, "Hana Hr")
    expired = ops.provider.access_token(persona("Hana Hr"), claims={"exp": hours(-1)})
    forged = forged_signature(ops.provider)
    with caplog.at_level(logging.DEBUG):
        assert (await api(ops, "/me", valid))[0] == 200
        assert (await api(ops, "/me", expired))[0] == 401
        assert (await api(ops, "/me", forged))[0] == 401
    assert "bearer token refused: the access token has expired" in caplog.text
    for token in (valid, expired, forged):
        for part in token.split("."):
            assert part not in caplog.text


async def test_the_development_provider_issues_api_tokens_only_for_its_personas(
    ops: RunningOps,
) -> None:
    api_scope = f"api://{ops.provider.client_id}/.default"
    status, answer = await token_endpoint(
        ops.provider,
        {"grant_type": "client_credentials", "client_id": "eve@evil.example", "scope": api_scope},
    )
    assert (status, answer["error"]) == (400, "invalid_grant")
    status, answer = await token_endpoint(
        ops.provider,
        {
            "grant_type": "client_credentials",
            "client_id": persona("Hana Hr").username,
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert (status, answer["error"]) == (400, "invalid_scope")
    assert ops.provider.refusals == [
        "no persona of ops.dev_personas has that sign-in name",
        f"scope {api_scope} not asked for",
    ]


def test_a_development_script_finds_the_token_endpoint_in_the_start_up_lines(
    tmp_path: Path,
) -> None:
    """`python app.py run` on loopback: the start-up lines name the development provider's
    token endpoint and certificate, and a token from there opens the API, as the README says."""
    port = unused_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "run"],
        cwd=ROOT,
        env={
            **os.environ,
            "PORT": str(port),
            "CROSSDESK_CONFIG": str(ops_config(tmp_path)),
            "CROSSDESK_SQLITE_PATH": str(tmp_path / "store.sqlite3"),
            "CROSSDESK_SWEEP_SECONDS": "0",
            "CROSSDESK_OPS_AUTH": "dev",
            "LOG_LEVEL": "INFO",
        },
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines: list[str] = []
        while not any("Development access tokens" in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        found = re.search(r"POST (\S+) \(certificate (\S+);", lines[-1])
        assert found, lines[-1]
        endpoint, certificate = found.groups()
        # The development directory and app registration are fixed: the README names them.
        assert endpoint.split("/")[3] == "d0e50000-0000-4000-8000-0000000c0de5"
        form = {
            "grant_type": "client_credentials",
            "client_id": "hana@contoso.example",
            "scope": "api://c0de0000-0000-4000-8000-00000000d0e5/.default",
        }
        context = ssl.create_default_context(cafile=certificate)
        with urllib.request.urlopen(
            endpoint, urllib.parse.urlencode(form).encode(), timeout=30, context=context
        ) as answer:
            token = json.load(answer)["access_token"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/ops/api/v1/me",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            me = json.load(answer)
        assert me["scope"]["departments"] == ["hr"]
        assert me["appOnly"] is True
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=30)
    assert token not in "".join(lines) + rest
