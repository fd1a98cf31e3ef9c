"""Pages in the reader's language: every page route, rendered in German and in English.

The routes are discovered from the app (every GET route of ``secinfo.web``), so a page
added without a scenario here fails the test. A German page must say ``lang="de"`` and
hold none of the English text the catalog translates; an English page none of the German.
"""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from fastapi.routing import APIRoute

from secinfo.api.app import create_app
from secinfo.domain.dates import format_moment
from secinfo.services import operators, webhooks
from tests.conftest import Harness, auth, running_app

pytestmark = pytest.mark.anyio

EMAIL = "greta@example.com"
OTHER = "otto@example.com"
CATALOG = Path(__file__).parents[2] / "src/secinfo/web/locales/de/LC_MESSAGES/messages.po"


def _fragments(text: str) -> list[str]:
    """The runs of words between placeholders and tags: what a page shows verbatim."""
    parts = re.split(r"%\(\w+\)[sd]|<[^>]+>|\"", text)
    return [part.strip(" .,:;()?!") for part in parts]


def _catalog_fragments() -> tuple[set[str], set[str]]:
    """English fragments the catalog translates, and the German ones it translates to
    (each at least two words, and not also in the other language)."""
    with CATALOG.open("rb") as source:
        catalog = read_po(source)
    english: set[str] = set()
    german: set[str] = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in ids:
            english.update(_fragments(text))
        for text in strings:
            german.update(_fragments(text))
    both = english & german
    return (
        {part for part in english - both if len(part.split()) >= 2},
        {part for part in german - both if len(part.split()) >= 2},
    )


ENGLISH_TEXT, GERMAN_TEXT = _catalog_fragments()


def page_routes(harness: Harness) -> set[str]:
    api = create_app(harness.app)
    return {
        route.path
        for route in api.routes
        if isinstance(route, APIRoute)
        and "GET" in route.methods
        and route.endpoint.__module__.startswith("secinfo.web")
    }


async def sign_up(harness: Harness, email: str, language: str) -> str:
    """Sign up from a browser in ``language`` (the account keeps it as its locale)."""
    headers = {"accept-language": language}
    started = await harness.client.post(
        "/v1/accounts",
        json={"sign_in_name": email, "password": "a long passphrase 1"},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    confirmed = await harness.client.post(
        "/v1/accounts/confirm",
        json={
            "verification_id": started.json()["verification_id"],
            "code": await harness.latest_code(email),
        },
        headers=headers,
    )
    assert confirmed.status_code == 201, confirmed.text
    return str(confirmed.json()["token"])


async def scenario(harness: Harness, language: str) -> tuple[dict[str, str], dict[str, str]]:
    """The URL of every page route: first while nothing waits, then (second dict) the
    pages that look different while a change to the security info waits."""
    token = await sign_up(harness, EMAIL, language)
    harness.client.cookies.set("secinfo_session", token)
    await operators.create(harness.app.deps, EMAIL)  # the operator pages too
    await harness.step_up(token, EMAIL)
    hook = await webhooks.create(harness.app.deps, "http://127.0.0.1:9/hooks", ["*"], "CRM")
    items = (await harness.client.get("/v1/me/security-info", headers=auth(token))).json()
    item_id = items["items"][0]["id"]
    events = (await harness.client.get("/v1/me/activity", headers=auth(token))).json()
    event_id = events["events"][0]["id"]
    recovery = await harness.client.post("/v1/recovery", json={"sign_in_name": EMAIL})
    recovery_id = recovery.json()["recovery_id"]
    # A sign-in after many wrong passwords asks for a code: the challenge page.
    await sign_up(harness, OTHER, language)
    for _ in range(5):
        await harness.client.post(
            "/v1/sessions", json={"sign_in_name": OTHER, "password": "not the one 1"}
        )
    step = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": OTHER, "password": "a long passphrase 1"}
    )
    assert step.status_code == 202, step.text
    challenge_id = step.json()["challenge_id"]
    calm = {
        "/": "/",
        "/language": f"/language?lang={language}&next=/sign-in",
        "/sign-up": "/sign-up",
        "/sign-in": "/sign-in",
        "/sign-in/challenge/{challenge_id}": f"/sign-in/challenge/{challenge_id}",
        "/forgot-password": "/forgot-password",
        "/forgot-password/{recovery_id}": f"/forgot-password/{recovery_id}",
        "/security": "/security?welcome=1",
        "/security/verify": "/security/verify?next=/security/password",
        "/security/add": "/security/add",
        "/security/add/authenticator": "/security/add/authenticator",
        "/security/info/{item_id}/label": f"/security/info/{item_id}/label",
        "/security/info/{item_id}/remove": f"/security/info/{item_id}/remove",
        "/security/sign-in-options": "/security/sign-in-options",
        "/security/password": "/security/password",
        "/security/two-step": "/security/two-step",
        "/security/data": "/security/data",
        "/security/activity": "/security/activity",
        "/security/activity/{event_id}/not-me": f"/security/activity/{event_id}/not-me",
        "/security/remove-all": "/security/remove-all",
        "/security/replace": "/security/replace",
        "/dev/mailbox": "/dev/mailbox",
    }
    operator = {
        "/admin": "/admin",
        "/admin/outbox": "/admin/outbox",
        "/admin/prefixes": "/admin/prefixes",
        "/admin/webhooks": "/admin/webhooks",
        "/admin/webhooks/{endpoint_id}": f"/admin/webhooks/{hook.endpoint.id}",
        "/admin/api-keys": "/admin/api-keys",
    }
    return calm | {f"operator {path}": url for path, url in operator.items()}, {"token": token}


async def waiting_pages(harness: Harness, token: str) -> dict[str, str]:
    change = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    assert change.status_code == 202, change.text
    change_id = change.json()["id"]
    return {
        "/security": "/security",
        "/security/password": "/security/password",
        "/security/add": "/security/add",
        "/security/pending-change": "/security/pending-change",
        "/pending-changes/{change_id}": f"/pending-changes/{change_id}",
    }


def check_language(url: str, response: Any, language: str, status: int = 200) -> str:
    assert response.status_code == status, (url, response.status_code, response.text[:300])
    page = unescape(response.text)
    if url.startswith("/admin"):  # the operator pages are English only
        language = "en"
        assert "/language?lang=" not in page, url
    assert f'<html lang="{language}">' in page, url
    assert response.headers["content-language"] == language, url
    foreign = ENGLISH_TEXT if language == "de" else GERMAN_TEXT
    left = sorted(text for text in foreign if text in page)
    assert not left, (url, left)
    return page


@pytest.mark.parametrize("language", ["de", "en"])
async def test_every_page_in_the_readers_language(
    database_url: str, tmp_path: Path, language: str
) -> None:
    async with running_app(database_url, tmp_path) as harness:
        harness.client.headers["accept-language"] = language
        calm, state = await scenario(harness, language)
        for url in calm.values():
            check_language(url, await harness.client.get(url, follow_redirects=True), language)
        waiting = await waiting_pages(harness, state["token"])
        for url in waiting.values():
            check_language(url, await harness.client.get(url, follow_redirects=True), language)
        covered = {path.removeprefix("operator ") for path in calm} | set(waiting)
        missing = page_routes(harness) - covered
        assert not missing, f"pages without a scenario here: {sorted(missing)}"


async def test_german_pages_write_dates_the_german_way(harness: Harness) -> None:
    token = await sign_up(harness, EMAIL, "de-DE")
    harness.client.cookies.set("secinfo_session", token)
    await harness.step_up(token, EMAIL)
    change = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    ends_at = datetime.fromisoformat(change.json()["ends_at"].replace("Z", "+00:00"))
    page = unescape((await harness.client.get("/security")).text)
    german = format_moment(ends_at, "de-DE")  # "2. Januar 2027, 10:00 UTC"
    assert re.search(r"\d{1,2}\. [A-ZÄÖÜ][a-zäöü]+ \d{4}, \d\d:\d\d UTC", german)
    assert f"Eine Änderung Ihrer Sicherheitsinformationen wartet bis {german}" in page
    assert format_moment(ends_at, "en") not in page
    activity = unescape((await harness.client.get("/security/activity")).text)
    assert "Letzte Aktivitäten" in activity and "der letzten 30 Tage" in activity
    today = format_moment(harness.clock.now(), "de-DE")[:-10]  # "2. Dezember 2026,"
    assert today in activity


async def test_accept_language_picks_a_written_language(harness: Harness) -> None:
    for header, language in (
        ("de-CH", "de"),
        ("de-AT,en;q=0.5", "de"),
        ("fr", "en"),
        ("fr-FR, de;q=0.7", "de"),
        ("en-GB,de;q=0.9", "en"),
        ("", "en"),
        ("*", "en"),
    ):
        response = await harness.client.get("/sign-in", headers={"accept-language": header})
        assert f'<html lang="{language}">' in response.text, header
        assert response.headers["content-language"] == language, header
    swiss = await harness.client.get("/sign-in", headers={"accept-language": "de-CH"})
    assert "<h1>Anmelden</h1>" in swiss.text
    assert "Kennwort vergessen?" in swiss.text


async def test_the_language_switch_sets_a_cookie_and_the_next_page_follows_it(
    harness: Harness,
) -> None:
    english = await harness.client.get("/sign-in", headers={"accept-language": "en-US"})
    assert 'href="/language?lang=de&amp;next=/sign-in"' in english.text
    assert 'lang="de" hreflang="de">Deutsch</a>' in english.text
    switched = await harness.client.get(
        "/language?lang=de&next=/sign-in", headers={"accept-language": "en-US"}
    )
    assert switched.status_code == 303
    assert switched.headers["location"] == "/sign-in"
    assert "secinfo_lang=de" in switched.headers["set-cookie"]
    assert "httponly" in switched.headers["set-cookie"].lower()
    german = await harness.client.get("/sign-in", headers={"accept-language": "en-US"})
    assert '<html lang="de">' in german.text and "<h1>Anmelden</h1>" in german.text
    assert 'href="/language?lang=en&amp;next=/sign-in"' in german.text
    # The explicit choice beats the signed-in account's locale too.
    token = await sign_up(harness, EMAIL, "en")
    harness.client.cookies.set("secinfo_session", token)
    security = await harness.client.get("/security")
    assert '<html lang="de">' in security.text and "Sicherheitsgrundlagen" in security.text
    # Only a path on this site, and only a written language.
    away = await harness.client.get("/language?lang=en&next=//evil.example/")
    assert away.headers["location"] == "/"
    harness.client.cookies.delete("secinfo_lang")
    unknown = await harness.client.get("/language?lang=xx&next=/sign-in")
    assert "set-cookie" not in unknown.headers


async def test_the_accounts_locale_beats_the_browsers(harness: Harness) -> None:
    token = await sign_up(harness, EMAIL, "de")
    harness.client.cookies.set("secinfo_session", token)
    security = await harness.client.get("/security", headers={"accept-language": "en-US"})
    assert '<html lang="de">' in security.text
    chosen = await harness.client.get("/security?lang=en", headers={"accept-language": "de"})
    assert '<html lang="en">' in chosen.text  # ?lang= is an explicit choice


async def test_refusals_on_pages_are_in_german(harness: Harness) -> None:
    german = {"accept-language": "de"}
    sign_in = await harness.client.get("/sign-in", headers=german)
    token = re.search(r'name="csrf_token" value="([^"]+)"', sign_in.text)
    assert token is not None
    wrong = await harness.client.post(
        "/sign-in",
        data={"csrf_token": token.group(1), "sign_in_name": EMAIL, "password": "nope nope 1"},
        headers=german,
    )
    text = unescape(wrong.text)
    assert "Dieser Anmeldename und dieses Kennwort passen zu keinem Konto." in text
    assert "do not match an account" not in text
    short = await harness.client.post(
        "/sign-up",
        data={"csrf_token": token.group(1), "sign_in_name": EMAIL, "password": "short"},
        headers=german,
    )
    assert "Wählen Sie ein Kennwort mit mindestens 8 Zeichen." in unescape(short.text)
    # The API keeps its English messages (clients act on the code).
    api = await harness.client.post(
        "/v1/sessions", json={"sign_in_name": EMAIL, "password": "nope nope 1"}, headers=german
    )
    assert api.json()["error"]["message"] == (
        "That sign-in name and password do not match an account."
    )
    missing = await harness.client.get("/no-such-page", headers=german)
    assert missing.status_code == 404 and "Seite nicht gefunden" in missing.text
    hidden = await harness.client.get("/admin", headers=german)  # not an operator
    assert hidden.status_code == 404 and hidden.text == missing.text  # the area stays unseen
    expired = await harness.client.post("/sign-in", data={}, headers=german)
    assert expired.status_code == 403 and "Dieses Formular ist abgelaufen" in expired.text


async def test_pages_shown_after_a_form_are_german_too(harness: Harness) -> None:
    """The pages a form post answers with (code pages, the QR code, the recovery code,
    a refusal) hold no untranslated text either."""
    harness.client.headers["accept-language"] = "de"
    token = await sign_up(harness, EMAIL, "de")
    harness.client.cookies.set("secinfo_session", token)
    await harness.step_up(token, EMAIL)
    page = await harness.client.get("/security/add")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"csrf_token": csrf.group(1)}
    answers = {
        "add a contact": await harness.client.post(
            "/security/add", data=form | {"kind": "email", "value": OTHER}
        ),
        "an authenticator's QR code": await harness.client.post(
            "/security/add/authenticator", data=form | {"label": "Telefon"}
        ),
        "the recovery code": await harness.client.post("/security/add/recovery-code", data=form),
        "a weak password": await harness.client.post(
            "/security/password",
            data=form | {"current_password": "a long passphrase 1", "new_password": "kurz"},
        ),
        "forgot password": await harness.client.post(
            "/forgot-password", data=form | {"sign_in_name": EMAIL}
        ),
        "a sign-up's code page": await harness.client.post(
            "/sign-up",
            data=form | {"sign_in_name": "neu@example.com", "password": "a long passphrase 1"},
        ),
    }
    for what, answer in answers.items():
        check_language(what, answer, "de", 422 if what == "a weak password" else 200)
    qr = unescape(answers["an authenticator's QR code"].text)
    assert 'aria-label="QR-Code zum Scannen mit Ihrer Authenticator-App"' in qr
    assert "Wir haben einen Code an" in unescape(answers["add a contact"].text)
    assert "Wählen Sie ein Kennwort mit mindestens" in unescape(answers["a weak password"].text)
    assert "Ihr Wiederherstellungscode" in unescape(answers["the recovery code"].text)
    assert "Wohin sollen wir einen Code senden?" in unescape(answers["forgot password"].text)
    assert "Registrierung abzuschließen" in unescape(answers["a sign-up's code page"].text)


async def test_a_german_notice_links_to_the_page_in_german(harness: Harness) -> None:
    token = await sign_up(harness, EMAIL, "de-CH")
    await harness.step_up(token, EMAIL)
    change = await harness.client.post("/v1/me/security-info/remove-all", headers=auth(token))
    notice = next(
        message["body"]
        for message in await harness.mailbox(EMAIL)
        if "/pending-changes/" in message["body"]
    )
    found = re.search(r"https?://\S+(/pending-changes/chg_[0-9a-f]+\?lang=de)\b", notice)
    assert found is not None, notice
    assert change.json()["id"] in found[1]
    harness.client.cookies.clear()  # a browser that knows nothing, in English
    page = await harness.client.get(found[1], headers={"accept-language": "en-US"})
    assert '<html lang="de">' in page.text
    assert "Ich habe diese Änderung nicht beantragt" in notice  # the page's words, in German
