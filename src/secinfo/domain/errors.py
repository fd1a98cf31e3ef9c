"""Domain errors: each carries a stable code and what a client needs to act on it.

The HTTP status for every code lives in one table in ``secinfo.api.errors``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from secinfo.domain.dates import format_moment


class DomainError(Exception):
    """A refusal the caller can understand and act upon."""

    code = "error"
    default_message = "The request could not be completed."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = {key: value for key, value in details.items() if value is not None}
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        for key, value in self.details.items():
            body[key] = value.isoformat() if isinstance(value, datetime) else value
        return body


class InvalidInput(DomainError):
    code = "invalid_input"
    default_message = "The request is not valid."


class InvalidEmail(InvalidInput):
    code = "invalid_email"


class InvalidPhone(InvalidInput):
    code = "invalid_phone"


class InvalidSignInName(InvalidInput):
    code = "invalid_sign_in_name"


class WeakPassword(InvalidInput):
    code = "weak_password"


class NotFound(DomainError):
    code = "not_found"
    default_message = "Nothing was found with that id."


class Unauthenticated(DomainError):
    code = "unauthenticated"
    default_message = "Sign in first: send 'Authorization: Bearer <session token>'."


class InvalidCredentials(DomainError):
    code = "invalid_credentials"
    default_message = "That sign-in name and password do not match an account."


class AccountNotVerified(DomainError):
    code = "account_not_verified"
    default_message = (
        "This account's sign-in name has not been verified yet: finish sign-up with the code "
        "we sent, or sign up again to get a new one."
    )


class InvalidApiKey(DomainError):
    code = "invalid_api_key"
    default_message = "Send a valid API key as 'Authorization: Bearer <key>'."


class ForbiddenScope(DomainError):
    code = "forbidden_scope"
    default_message = (
        "This API key's scope does not reach this endpoint: admin endpoints need a key made "
        "with 'secinfo apikey create NAME --scope admin'; the Verify API needs a "
        "verification key."
    )


class StepUpRequired(DomainError):
    code = "step_up_required"
    default_message = (
        "This action needs a recent verification: start one with POST /v1/me/step-up, "
        "then check the code, and try again within the privileged window."
    )


class Conflict(DomainError):
    code = "conflict"
    default_message = "The request conflicts with the current state."


class AccountClosed(Conflict):
    code = "account_closed"
    default_message = (
        "This account is already closed: sign in again to keep it, or wait for its erasure."
    )


class SignInNameTaken(Conflict):
    code = "sign_in_name_taken"
    default_message = "That email or phone is already a sign-in name of another account."


class AlreadyRegistered(Conflict):
    code = "already_registered"
    default_message = "That contact is already part of your security info."


class SecurityInfoChangePending(Conflict):
    code = "security_info_change_pending"

    def __init__(self, ends_at: datetime, change_id: str) -> None:
        super().__init__(
            "A change to your security info is waiting until "
            f"{format_moment(ends_at)}. Until then no other change to security settings or "
            "billing info can be made. Cancel the pending change to make changes now.",
            ends_at=ends_at,
            pending_change_id=change_id,
        )


class NoPendingChange(Conflict):
    code = "no_pending_change"
    default_message = "There is no pending security-info change to act on."


class TwoStepNeedsTwoKinds(Conflict):
    code = "two_step_needs_two_kinds"
    default_message = (
        "2-step verification needs two kinds of security info (for example an email and a "
        "phone) so you can still get in if one is lost: add another kind first."
    )


class PasswordResetRequired(DomainError):
    code = "password_reset_required"
    default_message = (
        "This account needs a new password before it can be signed in to (it was secured "
        "after a report of activity that wasn't its holder, or an administrator asked for "
        "it): reset the password with 'forgot password' (POST /v1/recovery) to sign in again."
    )


class AccountNotFound(NotFound):
    code = "account_not_found"
    default_message = "No account with that id; find one with GET /v1/admin/accounts?sign_in_name=."


class AccountLocked(DomainError):
    code = "account_locked"
    default_message = (
        "This account has been locked by an administrator, so it cannot be signed in to or "
        "recovered. Contact the service's support to have it unlocked."
    )


class AlreadyLocked(Conflict):
    code = "account_already_locked"
    default_message = "This account is locked already; unlock it first to lock it again."


class NotLocked(Conflict):
    code = "account_not_locked"
    default_message = "This account is not locked; there is nothing to unlock."


class PasswordResetAlreadyRequired(Conflict):
    code = "password_reset_already_required"
    default_message = (
        "This account must already reset its password before its next sign-in; to end its "
        "sessions again use POST /v1/admin/accounts/{id}/sessions/revoke."
    )


class AccountErased(Conflict):
    code = "account_erased"
    default_message = (
        "This account's personal data has been erased: there is nothing left to act on."
    )


class ChallengeNotFound(NotFound):
    code = "challenge_not_found"
    default_message = "This sign-in step has ended or does not exist; sign in again."


class ReconfirmRequired(DomainError):
    code = "reconfirm_required"
    default_message = (
        "It has been 7 days since we first asked: verify one of your security info items, or "
        "add new one, to finish signing in."
    )


class RecoveryProofMissing(DomainError):
    code = "recovery_proof_missing"
    default_message = "Prove it's you with a code first."


class LastSignInName(Conflict):
    code = "last_sign_in_name"
    default_message = "At least one sign-in name must stay switched on."


class NotVerifiedYet(Conflict):
    code = "not_verified_yet"
    default_message = "Only verified security info can be used for this."


class CodeNotSupported(Conflict):
    code = "channel_not_supported"
    default_message = "This kind of security info cannot receive codes."


# Verification-code errors -------------------------------------------------------------


class VerificationNotPending(DomainError):
    code = "verification_not_pending"
    default_message = "This verification has ended; start a new one."


class VerificationExpired(VerificationNotPending):
    code = "verification_expired"
    default_message = "The code has expired; start a new verification."


class MaxAttemptsReached(VerificationNotPending):
    code = "max_attempts_reached"
    default_message = "Too many wrong codes for this verification; start a new one."


class MaxSendAttemptsReached(DomainError):
    code = "max_send_attempts_reached"
    default_message = "No more codes can be sent for this verification; start a new one later."


class ResendCooldown(DomainError):
    code = "resend_cooldown"
    default_message = "A code was sent a moment ago; wait before asking for another."


class InvalidCode(DomainError):
    code = "invalid_code"
    default_message = "That code is not right. Check the latest message and try again."


class TooManyRequests(DomainError):
    code = "rate_limited"
    default_message = "Too many requests; try again later."


class RateLimiterUnavailable(DomainError):
    code = "rate_limiter_unavailable"
    default_message = (
        "Codes cannot be sent right now because the rate-limit store is unreachable; try again "
        "in a minute."
    )


class DestinationNotAllowed(InvalidInput):
    code = "destination_not_allowed"
    default_message = "Codes cannot be sent to that number."


class Overloaded(DomainError):
    code = "overloaded"
    default_message = (
        "Too many sign-ins are being checked right now; nothing was changed. Try again in a "
        "moment (see Retry-After)."
    )


class PasskeyRefused(DomainError):
    """A WebAuthn response that does not prove what it must; each reason its own code."""

    code = "passkey_invalid"
    default_message = "The passkey's answer could not be read. Ask for new options and try again."


class PasskeysUnavailable(DomainError):
    code = "passkeys_unavailable"
    default_message = "Passkeys are not available on this server."


class PasskeyOptionsExpired(PasskeyRefused):
    code = "passkey_options_expired"
    default_message = (
        "These passkey options expired or are not known (they last 5 minutes). "
        "Ask for new options and try again."
    )


class PasskeyChallengeUsed(PasskeyRefused):
    code = "passkey_challenge_used"
    default_message = (
        "These passkey options were used already; each is good for one try. Ask for new options."
    )


class PasskeyChallengeMismatch(PasskeyRefused):
    code = "passkey_challenge_mismatch"
    default_message = (
        "The passkey signed a different challenge than the one of these options. "
        "Ask for new options and try again."
    )


class PasskeyOriginMismatch(PasskeyRefused):
    code = "passkey_origin_mismatch"
    default_message = "The passkey was used on another site; only this site's pages may use it."


class PasskeyRpIdMismatch(PasskeyRefused):
    code = "passkey_rp_id_mismatch"
    default_message = "The passkey belongs to another site (its relying-party id is not ours)."


class PasskeyUserNotVerified(PasskeyRefused):
    code = "passkey_user_not_verified"
    default_message = (
        "The authenticator did not verify you (PIN, fingerprint or face). "
        "Try again and unlock it when asked."
    )


class PasskeyUnknown(PasskeyRefused):
    code = "passkey_unknown"
    default_message = (
        "This passkey is not registered with any account here (or it was removed). "
        "Sign in another way."
    )


class PasskeySignatureInvalid(PasskeyRefused):
    code = "passkey_signature_invalid"
    default_message = "The passkey's signature is not valid."


class PasskeyCounterRegressed(PasskeyRefused):
    code = "passkey_counter_regressed"
    default_message = (
        "This passkey's signature counter went backwards, which a copied authenticator "
        "would cause. It was set aside: sign in another way, remove it and register it again."
    )


class PasskeySuspect(PasskeyRefused):
    code = "passkey_suspect"
    default_message = (
        "This passkey was set aside after a signature counter regression. "
        "Sign in another way, remove it and register it again."
    )


# The two refusals below keep the native API's code (destination_not_allowed); the
# Twilio-compatible API tells them apart by class (60605 and 60410).
class CountryNotAllowed(DestinationNotAllowed):
    default_message = "Codes are not sent to numbers in that country."


class PrefixPaused(DestinationNotAllowed):
    default_message = (
        "Codes to this number range are paused because of unusual traffic; try again later "
        "or use an email address."
    )


class ChannelNotOffered(InvalidInput):
    code = "channel_not_offered"
    default_message = "Codes are sent by 'sms' or 'email' only."


# -- operators and the operator pages (/admin) -------------------------------------------------
class NotAnOperator(NotFound):
    """Not an operator account: the operator pages answer as if they did not exist."""

    code = "not_found"
    default_message = "There is no page at this address."


class NoVerifiedAccount(NotFound):
    code = "account_not_found"
    default_message = (
        "No account signs in with that name. Check the spelling (an email address or a "
        "phone number in international form, like +14155550100); an account whose "
        "sign-up code was never entered has no verified sign-in name yet: finish the "
        "sign-up first."
    )


class AccountNotActive(Conflict):
    code = "account_not_active"
    default_message = "That account is not active, so it cannot be an operator."


class OperatorStepUpRequired(StepUpRequired):
    default_message = (
        "The operator pages need a verification within the last 10 minutes: enter a "
        "code (or use a passkey) again."
    )


class MessageNotRetryable(Conflict):
    code = "message_not_retryable"
    default_message = "Only a dead or failed message can be sent again."
