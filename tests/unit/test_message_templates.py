"""Every message type renders in English and German; SMS fit one GSM-7 segment and code
SMS end with the WebOTP line; email HTML escapes what the text says."""

from __future__ import annotations

from pathlib import Path

import pytest

from secinfo.adapters.delivery.sms import gsm7_length, sms_segments
from secinfo.adapters.delivery.templates import JinjaRenderer
from secinfo.domain.contacts import Channel

CONTEXT: dict[str, object] = {
    "product": "secinfo",
    "domain": "accounts.example.com",
    "code": "428913",
    "account": "ab*****@example.com",
    "minutes": 10,
    "added": "*********89",
    "removed": "*********89",
    "kind": "phone",
    "passkey": "Work laptop",
    "country": "DE",
    "ip": "203.0.113.7",
    "when": "2030-01-01 10:00 UTC",
    "device": "Firefox on Linux",
}
PURPOSES = ["sign_up", "add_info", "step_up", "sign_in", "recovery", "reconfirm", "replace_info"]
NOTICES = [
    "security_info_added",
    "security_info_removed",
    "password_changed",
    "unusual_sign_in",
    "sign_up_existing",
    "recovery_code_used",
    "recovery_code_replaced",
    "passkey_suspect",
]
TEMPLATES = [f"code_{purpose}" for purpose in PURPOSES] + NOTICES


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_sms_fits_one_gsm7_segment(template: str, locale: str) -> None:
    text = JinjaRenderer().render(template, Channel.SMS, locale, CONTEXT).text.strip()
    assert gsm7_length(text) is not None, text
    assert sms_segments(text) == 1, (len(text), text)
    if template.startswith("code_"):
        assert text.endswith("\n\n@accounts.example.com #428913")


@pytest.mark.parametrize("template", TEMPLATES)
def test_email_has_subject_text_and_html_in_both_languages(template: str) -> None:
    renderer = JinjaRenderer()
    english = renderer.render(template, Channel.EMAIL, "en", CONTEXT)
    german = renderer.render(template, Channel.EMAIL, "de-DE", CONTEXT)
    for rendered in (english, german):
        assert rendered.subject and "Subject:" not in rendered.text
        assert rendered.html is not None and rendered.subject in rendered.html
    assert english.subject != german.subject
    assert '<html lang="de-de">' in (german.html or "")


def test_code_email_per_purpose_and_language() -> None:
    renderer = JinjaRenderer()
    recovery = renderer.render("code_recovery", Channel.EMAIL, "en", CONTEXT).text
    assert "reset your password" in recovery and "428913" in recovery
    german = renderer.render("code_recovery", Channel.EMAIL, "de", CONTEXT).text
    assert "Kennwort zurück" in german and "Ihr Code lautet: 428913" in german
    unknown = renderer.render("code_recovery", Channel.EMAIL, "fr-CA", CONTEXT).text
    assert unknown == recovery  # falls back to English


def test_html_escapes_the_text() -> None:
    html = JinjaRenderer().email_html("Hi <b>", "a <script>x</script> & b\n\nnext", "en")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; b" in html
    assert html.count("<p ") == 2


def test_segment_counting() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("[" * 80) == 1 and sms_segments("[" * 81) == 2  # escaped: 2 septets
    assert sms_segments("ü" * 160) == 1  # in the GSM-7 table
    assert sms_segments("ł" * 70) == 1 and sms_segments("ł" * 71) == 2  # UCS-2


def test_operators_override_a_template_from_a_folder(tmp_path: Path) -> None:
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "code.sms.j2").write_text(
        "{{ code }} ist Ihr Code\n\n@{{ domain }} #{{ code }}"
    )
    renderer = JinjaRenderer(tmp_path)
    assert renderer.render("code_sign_in", Channel.SMS, "de", CONTEXT).text.startswith(
        "428913 ist Ihr Code"
    )
    english = renderer.render("code_sign_in", Channel.SMS, "en", CONTEXT).text
    assert english.startswith("secinfo: 428913 is your code")  # built-in still used
