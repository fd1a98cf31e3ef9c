"""The delivery log for operators: outbox messages by status, and sending a dead or
failed one again. Never a body or a code (only whether the body is sealed or wiped)."""

from __future__ import annotations

from secinfo.domain.errors import InvalidInput, MessageNotRetryable, NotFound
from secinfo.domain.model import MessageStatus
from secinfo.ports import NO_SUCH_MESSAGE, MessageSummary
from secinfo.services.deps import Deps

STATUSES = tuple(status.value for status in MessageStatus)
RETRYABLE = (MessageStatus.DEAD.value, MessageStatus.FAILED.value)
MAX_PAGE = 200


async def messages(deps: Deps, status: str | None = None, limit: int = 100) -> list[MessageSummary]:
    """The newest messages, optionally of one status."""
    if status and status not in STATUSES:
        raise InvalidInput(f"Filter by one of: {', '.join(STATUSES)}.")
    async with deps.uow() as uow:
        return await uow.outbox_log.list_messages(
            status=status or None, limit=min(max(limit, 1), MAX_PAGE)
        )


async def counts(deps: Deps) -> dict[str, int]:
    """How many messages are in each status (every status named, zero included)."""
    async with deps.uow() as uow:
        found = await uow.outbox_log.counts()
    return {status: found.get(status, 0) for status in STATUSES}


async def retry(deps: Deps, message_id: str) -> None:
    """Queue a dead or failed message again, now, with a fresh attempt budget."""
    async with deps.uow() as uow:
        result = await uow.outbox_log.retry([message_id], deps.clock.now())
        reason = result.refused.get(message_id)
        if reason == NO_SUCH_MESSAGE:
            raise NotFound("No message with that id; it may have been purged.")
        if reason is not None:
            raise MessageNotRetryable(f"This message cannot be sent again: {reason}.")
        await uow.commit()
    deps.outbox_wakeup()
