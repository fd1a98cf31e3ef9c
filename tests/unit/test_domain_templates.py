"""Message templates: what a person reads in the email or SMS.

The context keys are the ones the services pass: ``queue_message`` adds ``product`` and
``domain``; ``queue_code`` adds ``code``, ``account`` and ``minutes``; the notices get
``account`` from ``notify_contacts`` plus ``kind`` and ``added``/``removed``; the
waiting-period notices get ``change_kind``, ``ends_at``, ``cancel_url`` and ``change_id``
(``pending_changes._notice_context``).
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest

from secinfo.adapters.delivery.templates import BUILTIN, PURPOSE_TEXT, JinjaRenderer
from secinfo.domain.contacts import CONTACT_CHANNELS, Channel
from secinfo.domain.model import InfoKind
from secinfo.domain.verification import Purpose

PRODUCT = "secinfo"
DOMAIN = "localhost"
CODE = "493817"
MASKED_PHONE = "*********89"
MASKED_EMAIL = "ab*****@example.com"

# GSM 03.38: the basic set (one septet each) and the extension table (two septets each).
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

NOTICES: dict[str, dict[str, object]] = {
    "sign_up_existing": {"account": MASKED_EMAIL},
    "security_info_added": {
        "account": MASKED_PHONE,
        "kind": InfoKind.EMAIL.value,
        "added": MASKED_EMAIL,
    },
    "security_info_removed": {
        "account": MASKED_EMAIL,
        "kind": InfoKind.PHONE.value,
        "removed": MASKED_PHONE,
    },
    "password_changed": {"account": MASKED_PHONE},
    "data_exported": {"account": MASKED_EMAIL},
    "account_closed": {"account": MASKED_EMAIL, "erase_at": "2027-01-02 09:30 UTC"},
    "account_closure_canceled": {"account": MASKED_PHONE},
    "recovery_code_used": {"account": MASKED_EMAIL},
    "recovery_code_replaced": {"account": MASKED_PHONE},
    "passkey_suspect": {"account": MASKED_EMAIL, "passkey": "Work laptop"},
    "password_reset": {"account": MASKED_EMAIL},
    "account_secured": {"account": MASKED_EMAIL},
    "account_locked": {"account": MASKED_EMAIL},
    "account_unlocked": {"account": MASKED_PHONE},
    "sessions_revoked": {"account": MASKED_EMAIL},
    "operator_granted": {"account": MASKED_EMAIL},
    "operator_revoked": {"account": MASKED_PHONE},
    "password_reset_required": {
        "account": MASKED_EMAIL,
        "recovery_url": "https://id.example.com/forgot-password",
    },
    "two_step_enabled": {"account": MASKED_EMAIL},
    "two_step_disabled": {"account": MASKED_EMAIL},
    "unusual_sign_in": {
        "account": MASKED_EMAIL,
        "ip": "203.0.113.7",
        "country": "DE",
        "device": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
        "when": "2026-11-27 09:30 UTC",
    },
    **{
        f"pending_change_{stage}": {
            "account": MASKED_EMAIL,
            "change_kind": "remove_all",
            "ends_at": "2026-12-27 10:00 UTC",
            # A short public URL and a real change id: the link takes half the SMS.
            "cancel_url": f"https://id.example.com/pending-changes/chg_{'0' * 32}",
            "change_id": f"chg_{'0' * 32}",
        }
        for stage in ("started", "reminder", "ended", "canceled")
    },
}
LOCALES = ("en", "de")


# Every purpose's code email says what the code is for.
PURPOSES_WITH_SENTENCE = list(Purpose)


def gsm7_septets(text: str) -> int:
    """Septets the text needs in GSM-7; raises if a character needs UCS-2."""
    outside = {character for character in text if character not in GSM7_BASIC | GSM7_EXTENSION}
    assert not outside, f"not GSM-7 (the SMS would be sent as UCS-2, 70 chars): {outside}"
    return sum(2 if character in GSM7_EXTENSION else 1 for character in text)


def names_the_account(purpose: Purpose, masked: str, text: str) -> bool:
    """Holder flows name the (masked) account; an integrator's code names only the service:
    there is no account, and telling a phone its own masked number says nothing."""
    return (masked not in text) if purpose is Purpose.INTEGRATOR else (masked in text)


def code_context(account: str, code: str = CODE) -> dict[str, object]:
    return {"product": PRODUCT, "domain": DOMAIN, "code": code, "account": account, "minutes": 10}


@pytest.fixture
def renderer() -> JinjaRenderer:
    return JinjaRenderer()


# The "don't share this code" sentence, per locale (a line break may fall inside it).
DO_NOT_SHARE = {"en": r"don't\s+share", "de": r"nicht\s+weiter|an\s+niemanden\s+weiter"}


@pytest.mark.parametrize("locale", sorted(PURPOSE_TEXT))
@pytest.mark.parametrize("purpose", PURPOSES_WITH_SENTENCE)
def test_every_purpose_has_its_own_sentence(purpose: Purpose, locale: str) -> None:
    """Without one the code email has an empty line where it says what the code is for."""
    assert PURPOSE_TEXT[locale].get(f"code_{purpose.value}"), f"no sentence for {purpose}"


@pytest.mark.parametrize("purpose", PURPOSES_WITH_SENTENCE)
def test_code_email_names_the_product_the_account_and_says_do_not_share(
    renderer: JinjaRenderer, purpose: Purpose
) -> None:
    template = f"code_{purpose.value}"
    message = renderer.render(template, Channel.EMAIL, "en", code_context(MASKED_EMAIL))
    purpose_sentence = PURPOSE_TEXT["en"].get(template, "the purpose sentence is missing")
    assert message.subject
    assert PRODUCT in message.subject
    assert "\n" not in message.subject
    assert not message.text.startswith("Subject:")
    assert CODE in message.text
    assert PRODUCT in message.text
    assert names_the_account(purpose, MASKED_EMAIL, message.text)
    assert "don't share this code" in message.text.lower()
    assert "10 minutes" in message.text
    assert purpose_sentence in message.text
    assert CODE not in message.subject
    assert message.html is not None
    assert CODE in message.html and "Don&#39;t share this code" in message.html


@pytest.mark.parametrize("purpose", list(Purpose))
def test_code_email_in_german(renderer: JinjaRenderer, purpose: Purpose) -> None:
    message = renderer.render(
        f"code_{purpose.value}", Channel.EMAIL, "de", code_context(MASKED_EMAIL)
    )
    assert message.subject and PRODUCT in message.subject
    assert CODE in message.text and names_the_account(purpose, MASKED_EMAIL, message.text)
    assert re.search(DO_NOT_SHARE["de"], message.text, re.IGNORECASE)
    assert message.html is not None and 'lang="de"' in message.html


@pytest.mark.parametrize("locale", sorted(DO_NOT_SHARE))
@pytest.mark.parametrize("purpose", list(Purpose))
def test_code_sms_ends_with_the_webotp_line_and_fits_one_segment(
    renderer: JinjaRenderer, purpose: Purpose, locale: str
) -> None:
    message = renderer.render(
        f"code_{purpose.value}", Channel.SMS, locale, code_context(MASKED_PHONE)
    )
    lines = message.text.rstrip("\n").split("\n")
    assert lines[-1] == f"@{DOMAIN} #{CODE}"
    assert re.fullmatch(r"@[a-z0-9.-]+ #[0-9A-Z]+", lines[-1])
    assert message.subject == ""
    assert PRODUCT in message.text
    assert names_the_account(purpose, MASKED_PHONE, message.text)
    assert re.search(DO_NOT_SHARE[locale], message.text, re.IGNORECASE)
    assert message.html is None
    assert gsm7_septets(message.text) <= 160, message.text


def test_code_sms_carries_an_alphanumeric_code_in_the_webotp_line(
    renderer: JinjaRenderer,
) -> None:
    message = renderer.render(
        "code_sign_in", Channel.SMS, "en", code_context(MASKED_PHONE, code="A3K7P9Q2")
    )
    assert message.text.rstrip("\n").split("\n")[-1] == "@localhost #A3K7P9Q2"


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("template", sorted(NOTICES))
@pytest.mark.parametrize("channel", list(CONTACT_CHANNELS))
def test_notices_render_for_both_channels_with_the_service_context(
    renderer: JinjaRenderer, template: str, channel: Channel, locale: str
) -> None:
    context = {"product": PRODUCT, "domain": DOMAIN, **NOTICES[template]}
    message = renderer.render(template, channel, locale, context)
    assert PRODUCT in message.text or PRODUCT in message.subject
    assert "{{" not in message.text and "}}" not in message.text
    for key in ("added", "removed"):
        if key in context:
            assert str(context[key]) in message.text
    if channel is Channel.EMAIL:
        assert message.subject and PRODUCT in message.subject
        assert str(context["account"]) in message.text
    else:
        assert message.subject == ""
        assert gsm7_septets(message.text) <= 160, message.text


def _template_names(locale: str) -> set[str]:
    return {
        path.name.removesuffix(".j2")
        for path in (BUILTIN / locale).glob("*.j2")
        if path.name != "layout.html.j2"
    }


def test_every_template_exists_in_every_locale() -> None:
    names = {locale: _template_names(locale) for locale in LOCALES}
    for locale in LOCALES:
        assert names[locale] == names["en"], f"{locale}: {names[locale] ^ names['en']}"


def test_every_notice_template_is_tested() -> None:
    names = {name.split(".")[0] for name in _template_names("en")}
    notices = {name for name in names if name != "code" and not name.startswith("code_")}
    assert notices == set(NOTICES)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("change_kind", ["remove_all", "replace_info", "remove_last"])
@pytest.mark.parametrize("stage", ["started", "reminder", "ended"])
def test_waiting_period_notices_say_what_changes_and_link_to_cancel(
    renderer: JinjaRenderer, stage: str, change_kind: str, locale: str
) -> None:
    template = f"pending_change_{stage}"
    context = {"product": PRODUCT, "domain": DOMAIN, **NOTICES[template]}
    context["change_kind"] = change_kind
    email = renderer.render(template, Channel.EMAIL, locale, context)
    assert str(context["change_id"]) in email.text
    if stage != "ended":
        assert str(context["ends_at"]) in email.text
        for channel in CONTACT_CHANNELS:
            assert (
                str(context["cancel_url"])
                in renderer.render(template, channel, locale, context).text
            )
    assert email.html is not None and f'lang="{locale}"' in email.html


@pytest.mark.parametrize("template", ["password_changed", "security_info_added"])
def test_notices_tell_what_to_do_if_it_was_not_you(renderer: JinjaRenderer, template: str) -> None:
    context = {"product": PRODUCT, "domain": DOMAIN, **NOTICES[template]}
    for channel in CONTACT_CHANNELS:
        text = renderer.render(template, channel, "en", context).text
        assert "Not you?" in text or "If you didn't" in text


def test_a_missing_context_key_fails_loudly(renderer: JinjaRenderer) -> None:
    context = code_context(MASKED_PHONE)
    del context["account"]
    with pytest.raises(jinja2.UndefinedError):
        renderer.render("code_sign_in", Channel.SMS, "en", context)


@pytest.mark.parametrize("locale", ["en-GB", "fr", "pt-BR", ""])
def test_other_locales_fall_back_to_english(renderer: JinjaRenderer, locale: str) -> None:
    english = renderer.render("code_recovery", Channel.EMAIL, "en", code_context(MASKED_EMAIL))
    other = renderer.render("code_recovery", Channel.EMAIL, locale, code_context(MASKED_EMAIL))
    assert (other.subject, other.text) == (english.subject, english.text)


def test_a_regional_locale_falls_back_to_its_language(renderer: JinjaRenderer) -> None:
    swiss = renderer.render("code_sign_in", Channel.SMS, "de-CH", code_context(MASKED_PHONE))
    german = renderer.render("code_sign_in", Channel.SMS, "de", code_context(MASKED_PHONE))
    english = renderer.render("code_sign_in", Channel.SMS, "en", code_context(MASKED_PHONE))
    assert swiss.text == german.text != english.text


def test_operator_templates_are_searched_first(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "code.sms.j2").write_text(
        "{{ code }} for {{ product }}\n\n@{{ domain }} #{{ code }}"
    )
    renderer = JinjaRenderer(override_dir=tmp_path)
    sms = renderer.render("code_sign_in", Channel.SMS, "en", code_context(MASKED_PHONE))
    assert sms.text == f"{CODE} for {PRODUCT}\n\n@{DOMAIN} #{CODE}\n"
    email = renderer.render("code_sign_in", Channel.EMAIL, "en", code_context(MASKED_EMAIL))
    assert "don't share this code" in email.text.lower()
