"""Activity event types: one enum of ``subject:action`` strings (warehouse's tags)."""

from enum import StrEnum


class EventTag(StrEnum):
    ACCOUNT_CREATED = "account:created"
    ACCOUNT_ACTIVATED = "account:activated"
    SIGN_IN_SUCCESS = "account:sign_in:success"
    SIGN_IN_FAILURE = "account:sign_in:failure"
    SIGN_OUT = "account:sign_out"
    SIGN_OUT_EVERYWHERE = "account:sign_out:everywhere"
    PASSWORD_CHANGED = "account:password:changed"  # noqa: S105 - an event name
    STEP_UP_SUCCESS = "account:step_up:success"
    CODE_SENT = "account:code:sent"
    CODE_CHECK_FAILED = "account:code:check_failed"
    SECURITY_INFO_ADDED = "account:security_info:added"
    SECURITY_INFO_VERIFIED = "account:security_info:verified"
    SECURITY_INFO_UPDATED = "account:security_info:updated"
    SECURITY_INFO_REMOVED = "account:security_info:removed"
    SIGN_IN_NAME_ENABLED = "account:sign_in_name:enabled"
    SIGN_IN_NAME_DISABLED = "account:sign_in_name:disabled"
    SIGN_IN_CHALLENGED = "account:sign_in:challenged"
    RECONFIRMED = "account:security_info:reconfirmed"
    RECONFIRM_SKIPPED = "account:security_info:reconfirm_skipped"
    TWO_STEP_ENABLED = "account:two_step:enabled"
    TWO_STEP_DISABLED = "account:two_step:disabled"
    PENDING_CHANGE_STARTED = "account:pending_change:started"
    PENDING_CHANGE_CANCELED = "account:pending_change:canceled"
    PENDING_CHANGE_COMPLETED = "account:pending_change:completed"
    PENDING_CHANGE_REMINDED = "account:pending_change:reminded"
    RECOVERY_STARTED = "account:recovery:started"
    RECOVERY_COMPLETED = "account:recovery:completed"
    RECOVERY_CODE_USED = "account:recovery_code:used"
    RECOVERY_CODE_REPLACED = "account:recovery_code:replaced"
    ACCOUNT_SECURED = "account:secured"
    PASSKEY_SUSPECT = "account:passkey:suspect"
    BILLING_UPDATED = "account:billing:updated"
    DATA_EXPORTED = "account:data:exported"
    ACCOUNT_CLOSED = "account:closed"
    ACCOUNT_CLOSURE_CANCELED = "account:closure:canceled"
    ACCOUNT_ERASED = "account:erased"
    # An operator's actions (admin API, CLI, operator pages): details name the operator.
    ACCOUNT_LOCKED = "account:locked"
    ACCOUNT_UNLOCKED = "account:unlocked"
    SESSIONS_REVOKED = "account:sessions_revoked"
    PASSWORD_RESET_REQUIRED = "account:password_reset_required"  # noqa: S105 - an event name
    OPERATOR_GRANTED = "account:operator:granted"  # may use the operator pages (/admin)
    OPERATOR_REVOKED = "account:operator:revoked"


# An event's ``by`` detail when an operator acted (not the holder, not the scheduler).
OPERATOR_WAYS = frozenset({"admin_api", "operator_page", "cli"})
