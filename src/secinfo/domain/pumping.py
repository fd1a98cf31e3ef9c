"""SMS-pumping rules: which numbers may receive codes, and when a prefix looks attacked.

Pumping fraud sends codes to number ranges whose operator pays the attacker per SMS;
the codes are never typed back. Signs: premium-rate or shared-cost numbers, and bursts
of sends to one prefix with almost no completed verifications.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers
from phonenumbers import PhoneNumberType

REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate numbers",
    PhoneNumberType.SHARED_COST: "shared-cost numbers",
    PhoneNumberType.FIXED_LINE: "landlines (they cannot receive SMS)",
    PhoneNumberType.TOLL_FREE: "toll-free numbers",
    PhoneNumberType.UAN: "universal access numbers",
    PhoneNumberType.VOICEMAIL: "voicemail numbers",
    PhoneNumberType.PAGER: "pagers",
}


@dataclass(frozen=True)
class PumpingPolicy:
    allowed_countries: frozenset[str] = field(default_factory=frozenset)  # empty: all
    denied_countries: frozenset[str] = field(default_factory=frozenset)
    refuse_voip: bool = False
    window: timedelta = timedelta(hours=1)
    min_sends: int = 20
    min_conversion: float = 0.2
    block_for: timedelta = timedelta(hours=12)
    prefix_digits: int = 4


@dataclass(frozen=True)
class NumberFacts:
    region: str
    number_type: int
    prefix: str


def number_facts(e164: str, prefix_digits: int = 4) -> NumberFacts:
    parsed = phonenumbers.parse(e164, None)
    national = str(parsed.national_number)
    return NumberFacts(
        region=phonenumbers.region_code_for_number(parsed) or "ZZ",
        number_type=phonenumbers.number_type(parsed),
        prefix=f"+{parsed.country_code}{national[:prefix_digits]}",
    )


def country_refused(facts: NumberFacts, policy: PumpingPolicy) -> bool:
    """The number's country is not one SMS codes go to (the operator's country lists)."""
    if policy.allowed_countries and facts.region not in policy.allowed_countries:
        return True
    return facts.region in policy.denied_countries


def refusal(facts: NumberFacts, policy: PumpingPolicy) -> str | None:
    """Why SMS codes may not go to this number, or None."""
    if country_refused(facts, policy):
        return f"SMS codes are not sent to numbers in {facts.region}."
    if facts.number_type in REFUSED_TYPES:
        return f"SMS codes are not sent to {REFUSED_TYPES[facts.number_type]}."
    if policy.refuse_voip and facts.number_type == PhoneNumberType.VOIP:
        return "SMS codes are not sent to internet (VoIP) numbers."
    return None


def looks_pumped(sends: int, conversions: int, policy: PumpingPolicy) -> bool:
    """A burst of sends to one prefix that almost nobody completes."""
    return sends >= policy.min_sends and conversions < sends * policy.min_conversion
