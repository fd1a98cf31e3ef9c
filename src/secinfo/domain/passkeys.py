"""Passkeys (WebAuthn): the relying party's rules, written once.

The server side of the ceremonies is py_webauthn's; this module holds what secinfo
decides: how long options live, how big a challenge is, which algorithms are accepted,
which relying-party id and origin are ours, and the names of well-known authenticator
models (by AAGUID) shown next to a passkey.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

# COSE algorithm identifiers (RFC 9053 / IANA): ES256, EdDSA, RS256, in order of preference.
ES256 = -7
EDDSA = -8
RS256 = -257


@dataclass(frozen=True)
class PasskeyPolicy:
    options_ttl: timedelta = timedelta(minutes=5)  # options expire, and are single use
    challenge_bytes: int = 32
    user_handle_bytes: int = 32
    algorithms: tuple[int, ...] = (ES256, EDDSA, RS256)
    max_per_account: int = 10

    @property
    def timeout_ms(self) -> int:
        """The browser's timeout hint: the options' own lifetime."""
        return int(self.options_ttl.total_seconds() * 1000)


# AAGUIDs of common authenticator models (the community list kept by passkeydeveloper
# and the FIDO metadata service). An unknown or all-zero AAGUID shows no name.
AUTHENTICATOR_NAMES: dict[str, str] = {
    "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
    "adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
    "08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
    "9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
    "6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
    "dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (Managed)",
    "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "iCloud Keychain",
    "bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
    "d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
    "531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
    "b84e4048-15dc-4dd0-8640-f4f60813c8af": "NordPass",
    "0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6": "Keeper",
    "f3809540-7f14-49c1-a8b3-8f813b225541": "Enpass",
    "53414d53-554e-4700-0000-000000000000": "Samsung Pass",
    "cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 Series",
    "ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5 Series",
    "fa2b99dc-9e39-4257-8f92-4a30d23c4118": "YubiKey 5 Series with NFC",
    "2fc0579f-8113-47ea-b116-bb5a8db9202a": "YubiKey 5 Series with NFC",
    "c5ef55ff-ad9a-4b9f-b580-adebafe026d0": "YubiKey 5Ci",
    "d8522d9f-575b-4866-88a9-ba99fa02f35b": "YubiKey Bio Series",
    "149a2021-8ef6-4133-96b8-81f8d5b7f1f5": "Security Key by Yubico",
    "a4e9fc6d-4cbe-4758-b8ba-37598bb5bbaa": "Security Key by Yubico with NFC",
    "b93fd961-f2e6-462f-b122-82002247de78": "Android Authenticator",
}


def authenticator_name(aaguid: str | None) -> str | None:
    """The model's name where it is known; None for unknown or anonymous (all-zero)."""
    if not aaguid:
        return None
    return AUTHENTICATOR_NAMES.get(aaguid.lower())


def rp_id_problem(rp_id: str, origin: str) -> str | None:
    """Why ``rp_id`` cannot serve passkeys for pages at ``origin``, or None when it can.

    WebAuthn asks for a domain (not an IP address) equal to the origin's host or a
    registrable suffix of it, and a secure context: https, or http on localhost."""
    parts = urlsplit(origin)
    host = (parts.hostname or "").lower()
    rp_id = rp_id.lower()
    try:
        ipaddress.ip_address(rp_id)
    except ValueError:
        pass
    else:
        return f"the relying-party id {rp_id!r} is an IP address; passkeys need a domain name"
    if host != rp_id and not host.endswith("." + rp_id):
        return f"the pages' host {host!r} is not {rp_id!r} nor one of its subdomains"
    local = host == "localhost" or host.endswith(".localhost")
    if parts.scheme != "https" and not local:
        return f"{origin} is not https (only localhost may use http)"
    return None


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what a browser puts in clientDataJSON."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
