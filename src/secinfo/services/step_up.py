"""Step-up: a code check makes a session privileged for a short window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from secinfo.domain.errors import CodeNotSupported, NotFound
from secinfo.domain.events import EventTag
from secinfo.domain.model import RequestContext, Session
from secinfo.domain.verification import Purpose, Verification
from secinfo.services import activity, authenticators
from secinfo.services import verification as codes
from secinfo.services.deps import Deps


async def start(
    deps: Deps, session: Session, item_id: str, *, client_ip: str | None
) -> Verification:
    """Send a step-up code to one of the holder's active contacts."""
    async with deps.uow() as uow:
        item = await uow.security_info.get(item_id)
        if item is None or item.account_id != session.account_id:
            raise NotFound("No security info with that id on your account.")
        channel = item.channel
        if channel is None or not item.can_receive_codes:
            raise CodeNotSupported(
                "Choose an active email or phone to receive the code, or send the code "
                "of your authenticator app or your recovery code with the security_info_id."
            )
        verification = await codes.start_for_account(
            deps,
            uow,
            purpose=Purpose.STEP_UP,
            channel=channel,
            destination=item.value,
            account_id=session.account_id,
            subject_id=item.id,
            session_id=session.id,
            client_ip=client_ip,
        )
        await uow.commit()
    deps.outbox_wakeup()
    return verification


async def check(
    deps: Deps, session: Session, verification_id: str, code: str, context: RequestContext
) -> datetime:
    """Check the code; on success the session is privileged until the returned time."""
    async with deps.uow() as uow:
        verification = await codes.load_for_holder(
            uow, verification_id, session.account_id, {Purpose.STEP_UP}
        )
        if verification.session_id != session.id:
            raise NotFound("No verification with that id is waiting for this session.")
        outcome = await codes.check(deps, uow, verification, code)
        now = deps.clock.now()
        if outcome.valid:
            session.privileged_until = now + deps.config.step_up_window
            await uow.sessions.update(session)
            item = await uow.security_info.get(verification.subject_id or "")
            if item is not None:
                item.last_used_at = now
                await uow.security_info.update(item)
            await activity.record(deps, uow, session.account_id, EventTag.STEP_UP_SUCCESS, context)
        else:
            await activity.record(
                deps,
                uow,
                session.account_id,
                EventTag.CODE_CHECK_FAILED,
                context,
                outcome="wrong_code",
                purpose=Purpose.STEP_UP.value,
            )
        await uow.commit()
    codes.raise_if_invalid(outcome)
    assert session.privileged_until is not None
    return session.privileged_until


@dataclass(frozen=True)
class HeldStepUp:
    privileged_until: datetime
    new_recovery_code: str | None = None


async def check_held(
    deps: Deps, session: Session, item_id: str, code: str, context: RequestContext
) -> HeldStepUp:
    """Step up in one call with an authenticator's code or the recovery code."""
    async with deps.uow() as uow:
        item = await uow.security_info.get(item_id)
        if item is None or item.account_id != session.account_id:
            raise NotFound("No security info with that id on your account.")
        proof = await authenticators.prove(deps, uow, item, code, context, Purpose.STEP_UP.value)
        if proof is not None:
            session.privileged_until = deps.clock.now() + deps.config.step_up_window
            await uow.sessions.update(session)
            await activity.record_item(
                deps,
                uow,
                EventTag.STEP_UP_SUCCESS,
                context,
                item,
            )
        await uow.commit()
    if proof is None:
        raise authenticators.refuse(item)
    deps.outbox_wakeup()
    assert session.privileged_until is not None
    return HeldStepUp(session.privileged_until, proof.new_recovery_code)
