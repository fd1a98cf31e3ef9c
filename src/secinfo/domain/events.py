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
    RECOVERY_STARTED = "account:recovery:started"
    RECOVERY_COMPLETED = "account:recovery:completed"
    ACCOUNT_SECURED = "account:secured"
    BILLING_UPDATED = "account:billing:updated"
