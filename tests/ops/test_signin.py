"""Signing in to /ops: the whole OIDC code flow with PKCE through msal against the local
provider over HTTPS, and every forged or stale answer refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from tests.ops.conftest import Browser, RunningOps, StartOps


async def test_sign_in_round_trip_lands_on_the_view_with_who_you_are(ops: RunningOps) -> None:
    browser = ops.browser()
    response, _ = await browser.get("/ops/")
    assert response.status == 302
    assert response.headers["Location"] == "/ops/auth/login?next=/ops/"

    await browser.sign_in("Hana Hr")
    response, page = await browser.get("/ops/")
    assert response.status == 200
    assert "Signed in as <strong>Hana Hr</strong> (hana@contoso.example)." in page
    response, page = await browser.get("/ops/me")
    assert "<dd>Human Resources</dd>" in page

    status, me = await browser.json("/ops/api/v1/me")
    assert status == 200
    assert me["name"] == "Hana Hr"
    assert me["roles"] == ["Crossdesk.Manager.HR"]
    assert me["scope"] == {
        "admin": False,
        "departments": ["hr"],
        "transcripts": [],
        "reports": [],
    }


async def test_the_api_answers_401_in_json_without_a_session(ops: RunningOps) -> None:
    status, body = await ops.browser().json("/ops/api/v1/me")
    assert status == 401
    assert body == {
        "error": "sign in first: open /ops/ in a browser, or send an access token (README)"
    }


async def signed_out_after(browser: Browser, response_status: int, page: str) -> None:
    """A refused sign-in shows why, sets no session, and the API still answers 401."""
    assert response_status == 400
    assert "Sign-in failed" in page
    status, _ = await browser.json("/ops/api/v1/me")
    assert status == 401


async def test_a_forged_state_is_refused(ops: RunningOps) -> None:
    browser = ops.browser()
    answer = await browser.pick(await browser.start_sign_in(), "Ada Admin")
    answer.fields["state"] = "forged-" + answer.fields["state"]
    response, page = await browser.deliver(answer)
    assert "does not match this browser" in page
    await signed_out_after(browser, response.status, page)


async def test_an_answer_without_the_flow_cookie_is_refused(ops: RunningOps) -> None:
    """The provider's answer posted into another browser (login CSRF): no flow there."""
    victim, attacker = ops.browser(), ops.browser()
    answer = await attacker.pick(await attacker.start_sign_in(), "Ada Admin")
    response, page = await victim.deliver(answer)
    assert "was not started in this browser" in page
    await signed_out_after(victim, response.status, page)


async def test_a_code_injected_into_another_sign_in_fails_pkce(ops: RunningOps) -> None:
    """An attacker's code (bound to the attacker's PKCE challenge) posted with the victim's own
    state: the state matches, but the victim's verifier does not fit the code, and the provider
    refuses it (S256 checked there)."""
    attacker, victim = ops.browser(), ops.browser()
    stolen = await attacker.pick(await attacker.start_sign_in(), "Ada Admin")
    own = await victim.pick(await victim.start_sign_in(), "Hana Hr")
    injected = {**own.fields, "code": stolen.fields["code"]}
    response, page = await victim.post(own.action, injected)
    assert "the identity provider refused the code: invalid_grant" in page
    assert ops.provider.refusals == ["PKCE verification failed: the code_verifier does not match"]
    await signed_out_after(victim, response.status, page)


async def test_a_code_is_redeemed_once(ops: RunningOps) -> None:
    browser = ops.browser()
    answer = await browser.pick(await browser.start_sign_in(), "Hana Hr")
    response, _ = await browser.deliver(answer)
    assert response.status == 303
    replayer = ops.browser()
    own = await replayer.pick(await replayer.start_sign_in(), "Ana Lyst")
    response, page = await replayer.post(own.action, {**own.fields, "code": answer.fields["code"]})
    assert "the identity provider refused the code: invalid_grant" in page
    assert ops.provider.refusals == ["unknown or used authorization code"]
    await signed_out_after(replayer, response.status, page)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        pytest.param(
            {"tid": "0badc0de-0000-4000-8000-000000000000"},
            "the ID token is from another directory (tid)",
            id="wrong tenant",
        ),
        pytest.param(
            {"aud": "another-app"}, "the ID token is for another app (aud)", id="wrong audience"
        ),
        pytest.param(
            {"iss": "https://login.example/other/v2.0"},
            "the ID token is from another issuer (iss)",
            id="wrong issuer",
        ),
    ],
)
async def test_an_id_token_for_another_directory_or_app_is_refused(
    ops: RunningOps, claims: dict[str, str], reason: str
) -> None:
    ops.provider.claims.update(claims)
    browser = ops.browser()
    response, page = await browser.deliver(
        await browser.pick(await browser.start_sign_in(), "Ada Admin")
    )
    assert reason in page
    await signed_out_after(browser, response.status, page)


async def test_an_id_token_with_a_forged_signature_is_refused(ops: RunningOps) -> None:
    # Signed with another key under the provider's key id.
    ops.provider.forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    browser = ops.browser()
    response, page = await browser.deliver(
        await browser.pick(await browser.start_sign_in(), "Ada Admin")
    )
    assert "the ID token&#39;s signature is not the provider&#39;s" in page
    await signed_out_after(browser, response.status, page)


async def test_an_expired_id_token_is_refused(ops: RunningOps) -> None:
    # The provider issues tokens that expired an hour ago by Crossdesk's clock (its own runs
    # two hours behind); within the clock skew allowed one is still taken.
    ops.provider.clock = lambda: datetime.now(UTC) - timedelta(hours=2)
    browser = ops.browser()
    response, page = await browser.deliver(
        await browser.pick(await browser.start_sign_in(), "Ada Admin")
    )
    assert "the ID token has expired" in page
    await signed_out_after(browser, response.status, page)

    ops.provider.clock = lambda: datetime.now(UTC) - timedelta(hours=1, minutes=1)
    await browser.sign_in("Ada Admin")
    status, me = await browser.json("/ops/api/v1/me")
    assert (status, me["name"]) == (200, "Ada Admin")


async def test_a_session_ends_after_eight_hours_and_on_sign_out(start_ops: StartOps) -> None:
    now = [datetime.now(UTC)]
    ops = await start_ops(clock=lambda: now[0])
    ops.provider.clock = lambda: now[0]
    browser = ops.browser()
    await browser.sign_in("Hana Hr")
    now[0] += timedelta(hours=7, minutes=59)
    assert (await browser.json("/ops/api/v1/me"))[0] == 200
    now[0] += timedelta(minutes=2)
    assert (await browser.json("/ops/api/v1/me"))[0] == 401

    await browser.sign_in("Hana Hr")
    response, _ = await browser.post("/ops/auth/logout", {})
    assert response.status == 303
    assert response.headers["Location"].startswith(f"{ops.provider.authority}/oauth2/v2.0/logout?")
    assert (await browser.json("/ops/api/v1/me"))[0] == 401


async def test_a_forged_session_cookie_is_ignored(ops: RunningOps) -> None:
    browser = ops.browser()
    browser.http.cookie_jar.update_cookies(
        {"crossdesk_ops": "gAAAAAB-not-a-sealed-cookie"}, URL(ops.base)
    )
    assert (await browser.json("/ops/api/v1/me"))[0] == 401


async def test_the_provider_refuses_authorization_without_s256(ops: RunningOps) -> None:
    browser = ops.browser()
    authorize = URL(await browser.start_sign_in())
    plain = authorize.update_query(code_challenge_method="plain")
    response, page = await browser.get(str(plain))
    assert response.status == 400
    assert "a PKCE S256 code_challenge is required" in page
