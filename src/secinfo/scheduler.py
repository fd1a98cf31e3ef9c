"""Scheduled jobs: complete due waiting periods, send reminders, purge old activity,
erase closed accounts whose grace period has ended.

Every job is safe to run in many processes at once: each change completes exactly once
(see ``services.pending_changes``), and a purge is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from secinfo.services import activity, data_rights, passkeys, pending_changes
from secinfo.services.deps import Deps

log = structlog.get_logger("secinfo.jobs")


async def run_jobs_once(deps: Deps) -> dict[str, int]:
    results = {
        "pending_changes_completed": await pending_changes.complete_due(deps),
        "reminders_sent": await pending_changes.send_due_reminders(deps),
        "activity_purged": await activity.purge_old(deps),
        "passkey_options_purged": await passkeys.purge_expired_options(deps),
        "accounts_erased": await data_rights.erase_due(deps),
    }
    if any(results.values()):
        log.info("jobs.ran", **results)
    return results


class JobLoop:
    def __init__(self, deps: Deps, interval_seconds: float = 30.0) -> None:
        self.deps = deps
        self.interval = interval_seconds
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await run_jobs_once(self.deps)
            except Exception:
                log.exception("jobs.error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
