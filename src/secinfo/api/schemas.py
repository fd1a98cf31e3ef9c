"""Request and response bodies of the JSON API, and how domain objects become them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from secinfo.domain.contacts import mask
from secinfo.domain.model import ActivityEvent, MessageStatus, PendingChange, SecurityInfo
from secinfo.domain.passkeys import authenticator_name
from secinfo.domain.verification import CodePolicy, Verification


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


# -- accounts and sessions --------------------------------------------------------------
class SignUpRequest(Body):
    sign_in_name: str = Field(..., description="An email address or a phone number (E.164).")
    password: str


class ConfirmRequest(Body):
    verification_id: str = Field(..., max_length=64)
    code: str = Field(..., max_length=32)


class ResendRequest(Body):
    verification_id: str = Field(..., max_length=64)


class SignInRequest(Body):
    sign_in_name: str
    password: str


class PasswordChangeRequest(Body):
    current_password: str
    new_password: str


class CodeRequest(Body):
    code: str = Field(..., max_length=32)


class StepUpRequest(Body):
    security_info_id: str = Field(..., max_length=64)
    code: str | None = Field(
        None,
        max_length=40,
        description="For an authenticator or the recovery code: its code, checked in this "
        "call. Leave out for an email or phone (a code is sent to it).",
    )


class AddSecurityInfoRequest(Body):
    kind: Literal["email", "phone", "authenticator", "recovery_code"]
    value: str | None = Field(
        None, max_length=320, description="The email address or phone number (those kinds)."
    )
    label: str | None = Field(None, max_length=200)


class VerifySecurityInfoRequest(Body):
    verification_id: str | None = Field(
        None, max_length=64, description="For an email or phone; none for an authenticator."
    )
    code: str = Field(..., max_length=32)


class ChallengeVerifyRequest(Body):
    """Either the verification of a sent code, or an authenticator / the recovery code."""

    verification_id: str | None = Field(None, max_length=64)
    security_info_id: str | None = Field(None, max_length=64)
    code: str = Field(..., max_length=40)


class EnrollmentOut(BaseModel):
    secret: str = Field(..., description="Base32, 160 bits; shown in this answer only.")
    otpauth_uri: str


class AuthenticatorAddedOut(BaseModel):
    item: SecurityInfoOut
    enrollment: EnrollmentOut


class RecoveryCodeOut(BaseModel):
    item: SecurityInfoOut
    recovery_code: str = Field(..., description="Shown once: write it down.")


class UpdateSecurityInfoRequest(Body):
    label: str | None = Field(None, max_length=200)


class SignInOptionRequest(Body):
    enabled: bool


class SessionOut(BaseModel):
    token: str = Field(..., description="Bearer token; shown once.")
    session_id: str
    account_id: str
    expires_at: datetime
    device_token: str | None = Field(
        None,
        description="Set when this device is new: send it back as 'X-Device-Token' on later "
        "sign-ins so they are not treated as unusual.",
    )
    closure_canceled: bool = Field(
        False,
        description="True when the account was closed and waiting for erasure: this "
        "sign-in canceled the closure, nothing will be erased.",
    )


class ContactOption(BaseModel):
    security_info_id: str
    kind: str
    channel: str = Field(..., description="email | sms | authenticator | recovery_code")
    to: str = Field(..., description="Masked; the label for an authenticator.")
    label: str | None = None


class ChallengeOut(BaseModel):
    challenge_id: str
    reason: str = Field(
        ...,
        description="unusual_sign_in | recent_failures | long_inactivity | two_step | "
        "reconfirm_security_info",
    )
    options: list[ContactOption]
    skippable: bool
    enforced_from: datetime | None = None
    expires_at: datetime


class PendingChangeOut(BaseModel):
    id: str
    kind: str
    status: str
    created_at: datetime
    ends_at: datetime
    new_item_id: str | None = None


class VerificationOut(BaseModel):
    id: str
    status: str
    channel: str
    to: str = Field(..., description="The destination, masked.")
    purpose: str | None = None
    expires_at: datetime
    send_attempts: int
    attempts_left: int | None = None
    resend_available_at: datetime | None = None
    delivery_status: MessageStatus | None = None


class CheckOut(BaseModel):
    id: str
    status: str
    valid: bool
    attempts_left: int


class SecurityInfoOut(BaseModel):
    id: str
    kind: str
    value: str = Field(..., description="Masked.")
    label: str | None
    state: str
    sign_in: bool
    added_at: datetime
    verified_at: datetime | None
    last_used_at: datetime | None
    authenticator_name: str | None = Field(
        None, description="Passkeys: the authenticator model, from its AAGUID, where known."
    )


class SecurityInfoList(BaseModel):
    items: list[SecurityInfoOut]


class AddStartedOut(BaseModel):
    item: SecurityInfoOut
    verification: VerificationOut


class StepUpOut(BaseModel):
    privileged_until: datetime


class ActivityOut(BaseModel):
    id: str
    type: str
    created_at: datetime
    outcome: str
    ip: str | None
    user_agent: str | None
    country: str | None
    details: dict[str, Any]


class ActivityPage(BaseModel):
    events: list[ActivityOut]
    next_before: str | None = Field(None, description="Pass as ?before= for the next page.")


class MeOut(BaseModel):
    account_id: str
    session_id: str
    privileged_until: datetime | None
    security_info: list[SecurityInfoOut]


def verification_out(
    verification: Verification,
    policy: CodePolicy,
    now: datetime,
    delivery_status: MessageStatus | None = None,
) -> VerificationOut:
    return VerificationOut(
        id=verification.id,
        status=verification.current_status(now).value,
        channel=verification.channel.value,
        to=mask(verification.channel, verification.destination),
        purpose=verification.purpose.value,
        expires_at=verification.expires_at,
        send_attempts=verification.send_attempts,
        attempts_left=verification.attempts_left(policy),
        resend_available_at=verification.resend_available_at(policy),
        delivery_status=delivery_status,
    )


def security_info_out(item: SecurityInfo) -> SecurityInfoOut:
    return SecurityInfoOut(
        id=item.id,
        kind=item.kind.value,
        value=item.masked,
        label=item.label,
        state=item.state.value,
        sign_in=item.sign_in,
        added_at=item.added_at,
        verified_at=item.verified_at,
        last_used_at=item.last_used_at,
        authenticator_name=authenticator_name(item.aaguid),
    )


def activity_out(event: ActivityEvent) -> ActivityOut:
    return ActivityOut(
        id=event.id,
        type=event.type,
        created_at=event.created_at,
        outcome=event.outcome,
        ip=event.ip,
        user_agent=event.user_agent,
        country=event.country,
        details=event.details,
    )


def contact_option(item: SecurityInfo) -> ContactOption:
    return ContactOption(
        security_info_id=item.id,
        kind=item.kind.value,
        channel=item.channel.value if item.channel else item.kind.value,
        to=item.masked if item.channel else item.display_name,
        label=item.label,
    )


def pending_change_out(change: PendingChange) -> PendingChangeOut:
    return PendingChangeOut(
        id=change.id,
        kind=change.kind.value,
        status=change.status.value,
        created_at=change.created_at,
        ends_at=change.ends_at,
        new_item_id=change.new_item_id,
    )
