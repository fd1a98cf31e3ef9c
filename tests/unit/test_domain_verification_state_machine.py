"""The verification state machine against a model of what SHOULD happen.

Hypothesis drives one verification through any sequence of sends, checks (wrong codes,
right codes, earlier codes, expired codes, codes of another verification, codes typed
with spaces or dashes), clock moves (microseconds to over an hour) and cancels. After
every step the real ``Verification`` must agree with an independent model written from
the specification, and invariants hold:

- a verification is approved only by a code that was sent on it, not yet expired at
  check time (``sent_at + ttl > now``), while the verification was pending: never with
  a wrong, expired, used or cancelled code, never after max attempts or expiry;
- ``check_attempts`` never decreases and a new send never resets it;
- exactly five wrong checks end the verification with ``max_attempts_reached``;
- at most five sends, and a resend within the 30 s cool-down is refused;
- an approved, cancelled, expired or maxed-out verification stays ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, assume, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from secinfo.domain.codes import DIGITS, CodeHasher, generate_code, normalize_typed_code
from secinfo.domain.contacts import Channel
from secinfo.domain.errors import (
    MaxAttemptsReached,
    MaxSendAttemptsReached,
    ResendCooldown,
    VerificationExpired,
    VerificationNotPending,
)
from secinfo.domain.verification import CodePolicy, Purpose, Status, Verification

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SECRET = b"state-machine-secret-0123456789"
ENDED = {Status.APPROVED, Status.CANCELED, Status.EXPIRED, Status.MAX_ATTEMPTS_REACHED}

# Clock moves: around the 30 s cool-down and the 10 min lifetime, plus anything between.
SECONDS = st.one_of(
    st.sampled_from([0, 1, 5, 29, 30, 31, 59, 60, 299, 300, 570, 599, 600, 601, 900, 3600]),
    st.integers(min_value=0, max_value=120),
)


@dataclass(frozen=True)
class ModelCode:
    plaintext: str
    sent_at: datetime


def make_verification(identifier: str, now: datetime, policy: CodePolicy) -> Verification:
    return Verification(
        id=identifier,
        purpose=Purpose.SIGN_IN,
        channel=Channel.SMS,
        destination="+14155550189",
        created_at=now,
        expires_at=now + policy.ttl,
    )


class VerificationMachine(RuleBasedStateMachine):
    policy = CodePolicy()

    def __init__(self) -> None:
        super().__init__()
        self.hasher = CodeHasher(SECRET)
        self.now = START
        self.verification = make_verification("ver_under_test", self.now, self.policy)
        # Codes sent on other verifications: they must never work on this one.
        self.other_codes: list[str] = []
        # The model, written from the code rules (docs/concepts.md) and never from the implementation.
        self.model_status = Status.PENDING
        self.model_expires_at = self.now + self.policy.ttl
        self.model_checks = 0
        self.model_sent: list[ModelCode] = []
        self.model_last_sent_at: datetime | None = None
        self.approved_with: ModelCode | None = None
        self.approved_at: datetime | None = None
        self.ended_as: Status | None = None
        self.highest_checks_seen = 0

    # -- the model -----------------------------------------------------------------------
    def model_current_status(self) -> Status:
        if self.model_status is Status.PENDING and self.now >= self.model_expires_at:
            return Status.EXPIRED
        return self.model_status

    def model_refusal(self) -> type[VerificationNotPending] | None:
        """The error any action must raise now, or None while the verification is pending."""
        status = self.model_current_status()
        if status is Status.PENDING:
            return None
        if status is Status.EXPIRED:
            self.model_status = Status.EXPIRED
            return VerificationExpired
        if status is Status.MAX_ATTEMPTS_REACHED:
            return MaxAttemptsReached
        return VerificationNotPending

    def valid_code_matching(self, typed: str) -> ModelCode | None:
        """A code sent on this verification, equal to what was typed, not yet expired."""
        wanted = normalize_typed_code(typed)
        for sent in self.model_sent:
            if sent.plaintext == wanted and sent.sent_at + self.policy.ttl > self.now:
                return sent
        return None

    # -- actions -------------------------------------------------------------------------
    def send_code(self) -> None:
        code = generate_code(self.policy.length, self.policy.alphanumeric)
        checks_before = self.verification.check_attempts
        refusal: type[Exception] | None = self.model_refusal()
        cooldown_ends = (
            self.model_last_sent_at + self.policy.resend_cooldown
            if self.model_last_sent_at is not None
            else None
        )
        if refusal is None and len(self.model_sent) >= self.policy.max_sends:
            refusal = MaxSendAttemptsReached
        elif refusal is None and cooldown_ends is not None and self.now < cooldown_ends:
            refusal = ResendCooldown
        code_hash = self.hasher.hash(self.verification.id, code)
        if refusal is not None:
            with pytest.raises(refusal) as raised:
                self.verification.record_send(code_hash, self.now, self.policy)
            # A subclass would pass pytest.raises: insist on the exact refusal.
            assert type(raised.value) is refusal
            if refusal is ResendCooldown:
                assert cooldown_ends is not None
                retry_after = raised.value.details["retry_after"]
                waited = (cooldown_ends - self.now).total_seconds()
                assert 1 <= retry_after <= self.policy.resend_cooldown.total_seconds()
                # Whole seconds, rounded up: waiting retry_after seconds is always enough.
                assert retry_after >= waited
        else:
            self.verification.record_send(code_hash, self.now, self.policy)
            self.model_sent.append(ModelCode(code, self.now))
            self.model_last_sent_at = self.now
            self.model_expires_at = self.now + self.policy.ttl
        assert self.verification.check_attempts == checks_before, "a send changed the count"

    def check_code(self, typed: str) -> None:
        refusal = self.model_refusal()
        if refusal is not None:
            event(f"check refused: {refusal.__name__}")
            with pytest.raises(refusal) as raised:
                self.verification.check(typed, self.now, self.policy, self.hasher)
            assert type(raised.value) is refusal
            return
        valid = self.valid_code_matching(typed)
        self.note_what_was_checked(typed, valid)
        approved = self.verification.check(typed, self.now, self.policy, self.hasher)
        if valid is not None:
            assert approved is True, f"a valid code was refused: {valid} at {self.now}"
            self.model_status = Status.APPROVED
            self.approved_with = valid
            self.approved_at = self.now
        else:
            assert approved is False, "a wrong, expired or foreign code approved"
            self.model_checks += 1
            if self.model_checks >= self.policy.max_checks:
                self.model_status = Status.MAX_ATTEMPTS_REACHED

    def note_what_was_checked(self, typed: str, valid: ModelCode | None) -> None:
        """Hypothesis statistics (--hypothesis-show-statistics): which cases runs reach."""
        wanted = normalize_typed_code(typed)
        sent = [code for code in self.model_sent if code.plaintext == wanted]
        if valid is not None:
            left = valid.sent_at + self.policy.ttl - self.now
            event("approve: an earlier code" if valid is not self.model_sent[-1] else "approve")
            if left <= timedelta(seconds=1):
                event("approve: in a code's last second")
        elif sent:
            event("refuse while pending: a sent code that has expired")
            if any(code.sent_at + self.policy.ttl == self.now for code in sent):
                event("refuse while pending: a sent code at exactly its expiry")
        else:
            event("refuse while pending: a wrong code")

    # -- rules ---------------------------------------------------------------------------
    @initialize(
        first_send=st.booleans(),
        resend_gaps=st.lists(st.sampled_from([30, 31, 45, 60, 120, 300, 599]), max_size=4),
        foreign=st.integers(min_value=1, max_value=3),
    )
    def start(self, first_send: bool, resend_gaps: list[int], foreign: int) -> None:
        """Services send the first code right away; some people then ask for more.

        Starting with a history of resends makes runs reach earlier codes and codes that
        end while a later one keeps the verification open. A few codes are really sent
        on other verifications (same secret, other ids): typing one here is wrong.
        """
        for number in range(foreign):
            code = generate_code(self.policy.length, self.policy.alphanumeric)
            other = make_verification(f"ver_other_{number}", self.now, self.policy)
            other.record_send(self.hasher.hash(other.id, code), self.now, self.policy)
            self.other_codes.append(code)
        if not first_send:
            return
        self.send_code()
        for gap in resend_gaps:
            self.now += timedelta(seconds=gap)
            self.send_code()

    @rule()
    def send_new_code(self) -> None:
        """Ask again at once: refused during the cool-down."""
        self.send_code()

    @rule(seconds=st.sampled_from([30, 31, 45, 60, 120, 300, 599]))
    def wait_then_send_new_code(self, seconds: int) -> None:
        """The person asks for a new code after waiting for the cool-down."""
        self.now += timedelta(seconds=seconds)
        self.send_code()

    @rule(
        data=st.data(),
        kind=st.sampled_from(["six digits", "malformed", "another verification's"]),
    )
    def check_wrong_code(self, data: st.DataObject, kind: str) -> None:
        if kind == "six digits":
            typed = data.draw(st.text(alphabet=DIGITS, min_size=6, max_size=6), label="code")
        elif kind == "malformed":
            typed = data.draw(
                st.one_of(
                    st.just(""),
                    st.text(alphabet=DIGITS, min_size=1, max_size=5),
                    st.text(alphabet=DIGITS, min_size=7, max_size=10),
                    st.text(min_size=1, max_size=12),
                ),
                label="code",
            )
        else:
            typed = data.draw(st.sampled_from(self.other_codes), label="code")
        # The model would call a chance collision right; keep this rule about wrong codes.
        assume(self.valid_code_matching(typed) is None)
        self.check_code(typed)

    @precondition(lambda self: bool(self.model_sent))
    @rule(data=st.data(), typing=st.sampled_from(["exact", "spaced", "dashed", "lower"]))
    def check_sent_code(self, data: st.DataObject, typing: str) -> None:
        """Any code sent so far: the latest, an earlier one, or one that has expired."""
        sent = data.draw(st.sampled_from(self.model_sent), label="sent code")
        code = sent.plaintext
        middle = len(code) // 2
        typed = {
            "exact": code,
            "spaced": f" {code[:middle]} {code[middle:]} ",
            "dashed": f"{code[:middle]}-{code[middle:]}",
            "lower": code.lower(),
        }[typing]
        self.check_code(typed)

    @precondition(lambda self: bool(self.model_sent))
    @rule(data=st.data(), offset=st.sampled_from([-1, 0, 1]))
    def check_sent_code_at_its_expiry(self, data: st.DataObject, offset: int) -> None:
        """Type a code one microsecond before, at, or after its end (if that is not past).

        With a later code sent, the verification is still pending when an earlier one
        ends: only the earlier code's own lifetime decides.
        """
        sent = data.draw(st.sampled_from(self.model_sent), label="sent code")
        target = sent.sent_at + self.policy.ttl + timedelta(microseconds=offset)
        if target > self.now:
            self.now = target
        self.check_code(sent.plaintext)

    @rule(seconds=SECONDS)
    def move_clock(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(microseconds=st.integers(min_value=1, max_value=3_000_000))
    def move_clock_a_little(self, microseconds: int) -> None:
        self.now += timedelta(microseconds=microseconds)

    @precondition(lambda self: bool(self.model_sent))
    @rule(
        data=st.data(),
        edge=st.sampled_from(["expiry", "cooldown"]),
        offset=st.sampled_from([-1, 0, 1]),
    )
    def move_clock_to_an_edge(self, data: st.DataObject, edge: str, offset: int) -> None:
        """Land one microsecond before, on, or after a code's expiry or a cool-down's end."""
        sent = data.draw(st.sampled_from(self.model_sent), label="code")
        length = self.policy.ttl if edge == "expiry" else self.policy.resend_cooldown
        target = sent.sent_at + length + timedelta(microseconds=offset)
        if target > self.now:
            self.now = target

    @rule(now=st.sampled_from([False, False, False, False, True]))
    def cancel(self, now: bool) -> None:
        """Cancel (drawn one time in five: a cancel ends the interesting part of a run)."""
        if not now:
            return
        refusal = self.model_refusal()
        if refusal is not None:
            with pytest.raises(refusal) as raised:
                self.verification.cancel(self.now)
            assert type(raised.value) is refusal
            return
        self.verification.cancel(self.now)
        self.model_status = Status.CANCELED

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.verification.current_status(self.now) is self.model_current_status()
        assert self.verification.check_attempts == self.model_checks
        assert self.verification.send_attempts == len(self.model_sent)
        assert self.verification.attempts_left(self.policy) == max(
            self.policy.max_checks - self.model_checks, 0
        )

    @invariant()
    def approved_only_by_a_valid_code_sent_on_it(self) -> None:
        if self.verification.status is not Status.APPROVED:
            assert self.approved_with is None
            return
        assert self.approved_with is not None and self.approved_at is not None
        assert self.approved_with in self.model_sent
        assert self.approved_with.sent_at + self.policy.ttl > self.approved_at
        assert self.approved_at < self.model_expires_at
        assert self.verification.approved_at == self.approved_at

    @invariant()
    def attempts_only_grow_and_stop_at_the_ceiling(self) -> None:
        checks = self.verification.check_attempts
        assert checks >= self.highest_checks_seen, "check_attempts went down"
        self.highest_checks_seen = checks
        assert checks <= self.policy.max_checks
        maxed = self.verification.status is Status.MAX_ATTEMPTS_REACHED
        assert maxed == (checks == self.policy.max_checks)
        assert self.verification.send_attempts <= self.policy.max_sends
        assert len(self.verification.codes) == self.verification.send_attempts

    @invariant()
    def sends_respect_the_cooldown(self) -> None:
        times = [sent.sent_at for sent in self.verification.codes]
        for earlier, later in pairwise(times):
            assert later - earlier >= self.policy.resend_cooldown

    @invariant()
    def an_ended_verification_stays_ended(self) -> None:
        status = self.verification.current_status(self.now)
        if self.ended_as is not None:
            assert status is self.ended_as, f"{self.ended_as} became {status}"
        elif status in ENDED:
            self.ended_as = status

    @invariant()
    def no_code_is_stored_in_clear(self) -> None:
        stored = {sent.code_hash for sent in self.verification.codes}
        assert not stored & {sent.plaintext for sent in self.model_sent}


VerificationMachine.TestCase.settings = settings(
    max_examples=300,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
TestVerificationStateMachine = VerificationMachine.TestCase


class AlphanumericVerificationMachine(VerificationMachine):
    """The same rules with 8-character alphanumeric codes (typed back in lower case)."""

    policy = CodePolicy(length=8, alphanumeric=True)


AlphanumericVerificationMachine.TestCase.settings = settings(
    max_examples=75,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
TestAlphanumericVerificationStateMachine = AlphanumericVerificationMachine.TestCase


def test_resend_cooldown_retry_after_is_enough_to_wait() -> None:
    """A client that waits exactly ``retry_after`` seconds gets its resend."""
    policy = CodePolicy()
    hasher = CodeHasher(SECRET)
    verification = make_verification("ver_cooldown", START, policy)
    verification.record_send(hasher.hash(verification.id, "111111"), START, policy)
    asked_at = START + timedelta(microseconds=999_500)
    with pytest.raises(ResendCooldown) as raised:
        verification.record_send(hasher.hash(verification.id, "222222"), asked_at, policy)
    retry_at = asked_at + timedelta(seconds=raised.value.details["retry_after"])
    verification.record_send(hasher.hash(verification.id, "222222"), retry_at, policy)
    assert verification.send_attempts == 2


@pytest.mark.parametrize("waited", [0, 1, 15, 29])
def test_resend_cooldown_says_how_long_to_wait(waited: int) -> None:
    policy = CodePolicy()
    hasher = CodeHasher(SECRET)
    verification = make_verification("ver_cooldown", START, policy)
    verification.record_send(hasher.hash(verification.id, "111111"), START, policy)
    asked_at = START + timedelta(seconds=waited)
    with pytest.raises(ResendCooldown) as raised:
        verification.record_send(hasher.hash(verification.id, "222222"), asked_at, policy)
    assert raised.value.details["retry_after"] == 30 - waited
    assert raised.value.to_dict()["code"] == "resend_cooldown"
    assert verification.send_attempts == 1
