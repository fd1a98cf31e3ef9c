"""Data rights (GDPR art. 15, 17, 20): what an export holds, what erasure keeps.

Closing an account is held for a grace period (cancelled by signing in); then, or at
once when an operator erases it, personal data goes: contact values are replaced by
keyed hashes (so an operator can still answer "was this address ever held here?" with
the server secret, and no one can read them back), names, IPs and user agents are
removed, and activity is kept only as what happened and when.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from secinfo.domain.contacts import contact_key

EXPORT_FORMAT = "secinfo.export/1"
ERASED_PREFIX = "erased:"
# The only activity details an anonymised event keeps: what kind of thing happened.
# ``by``, ``api_key_name`` and the ``operator_*`` keys name the operator's way and key or
# account, never the person.
ANONYMOUS_DETAIL_KEYS = frozenset(
    {
        "kind",
        "purpose",
        "reason",
        "channel",
        "sessions",
        "by",
        "api_key_name",
        "operator_kind",
        "operator_id",
        "operator_name",
    }
)


@dataclass(frozen=True)
class ErasurePolicy:
    """How long a closed account waits before its personal data is erased."""

    grace: timedelta = timedelta(days=30)
    # Accounts erased per scheduled run; the next run takes the rest.
    batch: int = 50


def erased_value(key: bytes, value: str) -> str:
    """The keyed hash that stands in for a contact value once it is erased: one value
    for every spelling of one contact, unreadable without the server secret."""
    digest = hmac.new(key, contact_key(value).encode(), hashlib.sha256).hexdigest()
    return f"{ERASED_PREFIX}{digest[:40]}"


def is_erased_value(value: str) -> bool:
    return value.startswith(ERASED_PREFIX)


def anonymised_details(details: dict[str, Any]) -> dict[str, Any]:
    """An activity event's details without anything that names or points at the person
    (labels, masked values, item ids)."""
    return {key: value for key, value in details.items() if key in ANONYMOUS_DETAIL_KEYS}


# What an erased account's webhook payload keeps in ``data``: which event it was, whose
# (the opaque account id), when and how it ended; labels and masked values go.
WEBHOOK_DATA_KEYS = frozenset({"id", "account_id", "outcome", "country"}) | ANONYMOUS_DETAIL_KEYS


def anonymised_webhook_body(body: str) -> str:
    """A webhook payload (``{"type", "timestamp", "data"}``) without the labels and
    masked values it may carry; the receiver still learns what happened and when."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return ""
    payload["data"] = {
        key: value for key, value in payload["data"].items() if key in WEBHOOK_DATA_KEYS
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
