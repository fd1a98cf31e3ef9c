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
