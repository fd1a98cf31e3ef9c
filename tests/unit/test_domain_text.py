"""Which characters outside text may carry."""

from __future__ import annotations

import pytest

from secinfo.domain.text import bad_character, describe


@pytest.mark.parametrize(
    "text",
    [
        "\x00",
        "a\x01",
        "\x1f",
        "\x7f",
        "\x80",
        "\x9f",
        "\u202a",
        "\u202e",
        "\u2066",
        "\u2069",
        "\ud800",
        "\udfff",
    ],
)
def test_refused_everywhere(text: str) -> None:
    assert bad_character(text) is not None
    assert bad_character(text, allow_line_breaks=True) is not None


@pytest.mark.parametrize("text", ["a\tb", "a\nb", "a\r\nb"])
def test_line_breaks_only_where_allowed(text: str) -> None:
    assert bad_character(text) is not None
    assert bad_character(text, allow_line_breaks=True) is None


@pytest.mark.parametrize(
    "text", ["", "plain", "Zürich — naïve", "日本語", "😀👍🏽", "a\u200db", "\ufffd"]
)
def test_ordinary_text_passes(text: str) -> None:
    assert bad_character(text) is None


def test_a_refused_character_is_named_not_printed() -> None:
    assert describe("\x00") == "U+0000"
    assert describe("\u202e") == "U+202E"
