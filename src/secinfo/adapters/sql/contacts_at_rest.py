"""Contacts at rest: sealed where they are kept, found by their blind index.

Every stored contact (``security_info.value``, ``verifications.destination``,
``outbox.destination`` of an email or SMS) is sealed with the encryption keys, its
associated data naming the table, column and row, so a sealed value copied onto another
row (or column) does not open there. What SQL compares is the blind index
(``SecretBox.blind_index``): of the contact's key (``contact_key``: one mailbox, one
index), or where the exact spelling matters, of the spelling itself. Above the
repositories every value is plain: the domain never sees a sealed one.
"""

from __future__ import annotations

import re

from secinfo.adapters.secretbox import SecretBox
from secinfo.domain.contacts import Channel, contact_key, mask

# A sign-in name that was a case-duplicate before names had keys (migration 0005) is
# indexed by its key's index, this mark, and its own spelling's index.
SPELLING_MARK = "#"


def seal(box: SecretBox, column: str, row_id: str, value: str) -> str:
    """``value`` sealed for ``column`` ("table.column") of the row ``row_id``."""
    return box.seal(value, f"{column}:{row_id}")


def unseal(box: SecretBox, column: str, row_id: str, stored: str) -> str:
    """The plain value of a stored one (a value not sealed, such as a wiped "", as it is)."""
    return box.open(stored, f"{column}:{row_id}") if stored else stored


def key_index(box: SecretBox, value: str) -> str:
    """The blind index of a contact's key: every spelling of one mailbox has this one."""
    return box.blind_index(contact_key(value))


def spelling_index(box: SecretBox, value: str) -> str:
    """The blind index of one exact spelling (the Verify API keeps spellings apart)."""
    return box.blind_index(value)


def duplicate_index(box: SecretBox, value: str) -> str:
    """The index of an old case-duplicate sign-in name: unique (its own spelling), and
    still starting with its key's (the person's data finds it by that)."""
    return key_index(box, value) + SPELLING_MARK + spelling_index(box, value)


def scrubbed(text: str, channel: str, destination: str) -> str:
    """A delivery error without the destination in it (an SMTP server's "<ada@x>:
    recipient rejected", a provider's "+1415… is not a valid number"): every spelling of
    it is replaced by its masked form before the error is stored."""
    if channel == Channel.WEBHOOK.value or not destination:
        return text
    masked = mask(Channel(channel), destination)
    forms = {destination, contact_key(destination), destination.lstrip("+")}
    for form in sorted(forms, key=len, reverse=True):
        text = re.sub(re.escape(form), masked, text, flags=re.IGNORECASE)
    return text
