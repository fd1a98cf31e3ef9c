"""Message templates (Jinja2), one file per message type, channel and locale.

An email template's first line is ``Subject: …``; the rest is the plain-text body.
A template named ``code_<purpose>`` falls back to ``code`` with a purpose sentence.
Operators can put their own templates in a folder that is searched first.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from secinfo.domain.contacts import Channel
from secinfo.ports import RenderedMessage

BUILTIN = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "en"

PURPOSE_TEXT = {
    "code_sign_up": "Use this code to finish creating your account.",
    "code_add_info": "Use this code to add this address or number as security info.",
    "code_step_up": "Use this code to confirm it's you before a change to your security settings.",
    "code_sign_in": "Use this code to finish signing in.",
    "code_recovery": "Use this code to reset your password.",
    "code_reconfirm": "Use this code to confirm you can still receive codes here.",
    "code_replace_info": "Use this code to replace your security info.",
    "code_integrator": "Use this code to verify it's you.",
}


class JinjaRenderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        search = [str(override_dir)] if override_dir else []
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*search, str(BUILTIN)]),
            autoescape=False,  # noqa: S701 - plain-text email and SMS bodies, never HTML
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
        )

    def _template(self, name: str, channel: Channel, locale: str) -> jinja2.Template:
        candidates = []
        for candidate_locale in dict.fromkeys([locale, locale.split("-")[0], DEFAULT_LOCALE]):
            candidates.append(f"{candidate_locale}/{name}.{channel.value}.j2")
            if name.startswith("code_"):
                candidates.append(f"{candidate_locale}/code.{channel.value}.j2")
        return self.environment.select_template(candidates)

    def render(
        self, template: str, channel: Channel, locale: str, context: dict[str, object]
    ) -> RenderedMessage:
        values = {"purpose_text": PURPOSE_TEXT.get(template, ""), **context}
        text = self._template(template, channel, locale).render(values).strip()
        subject = ""
        if channel is Channel.EMAIL and text.startswith("Subject:"):
            first, _, text = text.partition("\n")
            subject = first.removeprefix("Subject:").strip()
        return RenderedMessage(subject=subject, text=text.strip() + "\n")
