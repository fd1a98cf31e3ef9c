"""Message templates (Jinja2), one file per message type, channel and locale.

An email template's first line is ``Subject: …``; the rest is the plain-text body.
The HTML part of an email is the plain text laid out by ``<locale>/layout.html.j2``
(autoescaped), so the text template is the one source of what a message says, and the
HTML can be made again at send time from the stored text (see ``email_html``).
A template named ``code_<purpose>`` falls back to ``code`` with a purpose sentence.
Locales fall back from ``de-CH`` to ``de`` to ``en``. Operators can put their own
templates in a folder that is searched first (``SECINFO_TEMPLATE_DIR``), with the same
layout: ``<locale>/<name>.<channel>.j2`` and ``<locale>/layout.html.j2``.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from secinfo.domain.contacts import Channel
from secinfo.ports import RenderedMessage

BUILTIN = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"

PURPOSE_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "code_sign_up": "Use this code to finish creating your account.",
        "code_add_info": "Use this code to add this address or number as security info.",
        "code_step_up": (
            "Use this code to confirm it's you before a change to your security settings."
        ),
        "code_sign_in": "Use this code to finish signing in.",
        "code_recovery": "Use this code to reset your password.",
        "code_reconfirm": "Use this code to confirm you can still receive codes here.",
        "code_replace_info": "Use this code to replace your security info.",
        "code_integrator": "Use this code to verify it's you.",
        "code_cancel_change": "Use this code to cancel a pending change to your security info.",
    },
    "de": {
        "code_sign_up": "Mit diesem Code schließen Sie die Erstellung Ihres Kontos ab.",
        "code_add_info": (
            "Mit diesem Code fügen Sie diese Adresse oder Nummer als Sicherheitsinformation hinzu."
        ),
        "code_step_up": (
            "Mit diesem Code bestätigen Sie vor einer Änderung Ihrer Sicherheitseinstellungen, "
            "dass Sie es sind."
        ),
        "code_sign_in": "Mit diesem Code schließen Sie die Anmeldung ab.",
        "code_recovery": "Mit diesem Code setzen Sie Ihr Kennwort zurück.",
        "code_reconfirm": (
            "Mit diesem Code bestätigen Sie, dass Sie hier weiterhin Codes empfangen können."
        ),
        "code_replace_info": "Mit diesem Code ersetzen Sie Ihre Sicherheitsinformationen.",
        "code_integrator": "Mit diesem Code bestätigen Sie, dass Sie es sind.",
        "code_cancel_change": (
            "Mit diesem Code brechen Sie eine ausstehende Änderung Ihrer "
            "Sicherheitsinformationen ab."
        ),
    },
}


def locale_chain(locale: str) -> list[str]:
    """``de-CH`` → ``de-ch``, ``de``, ``en``: the locales to try, most specific first."""
    locale = locale.strip().lower().replace("_", "-") or DEFAULT_LOCALE
    return list(dict.fromkeys([locale, locale.split("-")[0], DEFAULT_LOCALE]))


# How many (template, channel, locale) choices a renderer remembers.
MAX_CHOSEN = 2000


class JinjaRenderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        search = [str(override_dir)] if override_dir else []
        loader = jinja2.FileSystemLoader([*search, str(BUILTIN)])
        # Templates are read once per process (a changed template applies after a
        # restart): no file-system check on every message sent.
        self.environment = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701 - plain-text email and SMS bodies, never HTML
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            auto_reload=False,
        )
        self.html_environment = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False
        )
        # (name, channel, locale) -> the template chosen for it: the candidates that do not
        # exist are looked for once, not on every message.
        self._chosen: dict[tuple[str, str, str], jinja2.Template] = {}

    def _template(self, name: str, channel: Channel, locale: str) -> jinja2.Template:
        key = (name, channel.value, locale)
        chosen = self._chosen.get(key)
        if chosen is None:
            if len(self._chosen) > MAX_CHOSEN:  # a bound: locales come from callers
                self._chosen.clear()
            chosen = self._chosen[key] = self._select(name, channel, locale)
        return chosen

    def _select(self, name: str, channel: Channel, locale: str) -> jinja2.Template:
        candidates = []
        for candidate_locale in locale_chain(locale):
            candidates.append(f"{candidate_locale}/{name}.{channel.value}.j2")
            if name.startswith("code_"):
                candidates.append(f"{candidate_locale}/code.{channel.value}.j2")
        return self.environment.select_template(candidates)

    def _purpose_text(self, template: str, locale: str) -> str:
        for candidate in locale_chain(locale):
            text = PURPOSE_TEXT.get(candidate, {}).get(template)
            if text is not None:
                return text
        return ""

    def render(
        self, template: str, channel: Channel, locale: str, context: dict[str, object]
    ) -> RenderedMessage:
        values = {"purpose_text": self._purpose_text(template, locale), **context}
        text = self._template(template, channel, locale).render(values).strip()
        subject = ""
        if channel is Channel.EMAIL and text.startswith("Subject:"):
            first, _, text = text.partition("\n")
            subject = first.removeprefix("Subject:").strip()
        text = text.strip() + "\n"
        html = self.email_html(subject, text, locale) if channel is Channel.EMAIL else None
        return RenderedMessage(subject=subject, text=text, html=html)

    def email_html(self, subject: str, text: str, locale: str) -> str:
        """The HTML part of an email: its plain text, escaped, in the locale's layout."""
        paragraphs = [
            [line.strip() for line in block.splitlines() if line.strip()]
            for block in text.strip().split("\n\n")
        ]
        key = ("layout", "html", locale)
        layout = self._chosen.get(key)
        if layout is None:
            layout = self._chosen[key] = self.html_environment.select_template(
                [f"{candidate}/layout.html.j2" for candidate in locale_chain(locale)]
            )
        return layout.render(
            subject=subject,
            paragraphs=[lines for lines in paragraphs if lines],
            lang=locale_chain(locale)[0],
        )
