"""Recovery, "forgot password": no enumeration, masked contacts, typed back in full.

An unknown sign-in name gets the same answer as a real one: a recovery id and masked
contacts (decoys shaped like the real accounts' answers, chosen from the name with the
server secret so asking twice shows the same ones; see ``services.enumeration``). Every
mask is made from the contact's key, so how a name is typed (``ALICE@``) does not show
whether it exists. Sending to a contact needs the full contact typed back; a wrong or decoy
contact gets the same answer and nothing is sent.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from secinfo.domain.contacts import Channel, contact_key, mask, normalize_contact
from secinfo.domain.errors import (
    AccountLocked,
    DomainError,
    InvalidCode,
    InvalidInput,
    NotFound,
    PasskeyUnknown,
    RecoveryProofMissing,
)
from secinfo.domain.events import EventTag
from secinfo.domain.limits import client_network
from secinfo.domain.model import (
    InfoKind,
    PasskeyPurpose,
    Recovery,
    RecoveryContact,
    RequestContext,
)
from secinfo.domain.passwords import check_password_strength
from secinfo.domain.verification import Purpose
from secinfo.ports import UnitOfWork
from secinfo.services import abuse, activity, authenticators, passkeys
from secinfo.services import verification as codes
from secinfo.services.deps import Deps, new_id
from secinfo.services.enumeration import Shape, contact_shapes, decoy_masks
from secinfo.services.messages import masked_account_name, notify_contacts


@dataclass(frozen=True)
class SendAnswer:
    """The same answer whether or not a code went out."""

    verification_id: str


def _decoys(channel: Channel, value: str, shape: Shape, secret: bytes) -> list[RecoveryContact]:
    return [
        RecoveryContact(id=new_id("rc"), channel=shown_channel, masked=masked)
        for shown_channel, masked in decoy_masks(shape, channel, value, secret)
    ]


async def start(deps: Deps, sign_in_name: str, context: RequestContext) -> Recovery:
    channel, value = normalize_contact(sign_in_name)
    network = client_network(context.ip)
    if network:
        await deps.limiter.hit("recovery.ip", network)
    await deps.limiter.hit("recovery.name", contact_key(value))
    shapes = await contact_shapes(deps)
    secret = deps.codes.secret_for("recovery-decoys")
    key = contact_key(value)
    shape = shapes.choose(channel, secret, key)
    now = deps.clock.now()
    async with deps.uow() as uow:
        # An unknown name runs the same statements, on a real account of its decoy's
        # shape (the rows are thrown away): the answer's timing does not tell whether
        # the account exists.
        account_id = await uow.security_info.find_sign_in_account(value)
        stand_in = shapes.example(channel, shape, secret, key) or "acc_none"
        found = await uow.accounts.get(account_id or stand_in)
        items = await uow.security_info.list_for_account(found.id if found else "acc_none")
        account = found if account_id is not None else None
        recovery = Recovery(
            id=new_id("rcv"),
            created_at=now,
            expires_at=now + deps.config.recovery_ttl,
            contacts=[] if account else _decoys(channel, key, shape, secret),
        )
        if account is not None:
            recovery.account_id = account.id
            reachable = {contact.id for contact in items if contact.can_prove}
            # Two proofs with 2-step on, but never more than there are contacts.
            wanted = 2 if account.two_step_enabled else 1
            recovery.proofs_needed = min(wanted, max(len(reachable), 1))
            recovery.contacts = [
                RecoveryContact(
                    id=new_id("rc"),
                    channel=contact.channel,
                    masked=mask(contact.channel, contact_key(contact.value)),
                    item_id=contact.id,
                )
                for contact in items
                if contact.can_receive_codes and contact.channel is not None
            ]
        await uow.recoveries.add(recovery)
        await uow.commit()
    return recovery


async def _open(uow: UnitOfWork, deps: Deps, recovery_id: str) -> Recovery:
    recovery = await uow.recoveries.get(recovery_id)
    if recovery is None or recovery.completed_at or deps.clock.now() >= recovery.expires_at:
        raise NotFound("This recovery has ended; start again from 'forgot password'.")
    return recovery


async def send_code(
    deps: Deps,
    recovery_id: str,
    contact_id: str,
    typed_contact: str,
    context: RequestContext | None = None,
) -> SendAnswer:
    """Send a code if ``typed_contact`` is the full contact behind ``contact_id``."""
    context = context or RequestContext()
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        contact = next((entry for entry in recovery.contacts if entry.id == contact_id), None)
        if contact is None:
            raise NotFound("Choose one of the contacts shown for this recovery.")
        try:
            _, typed = normalize_contact(typed_contact, contact.channel)
        except DomainError:
            typed = ""
        item = await uow.security_info.get(contact.item_id) if contact.item_id else None
        matches = (
            item is not None
            and item.can_receive_codes
            and hmac.compare_digest(contact_key(item.value).encode(), contact_key(typed).encode())
            and item.id not in recovery.proven_item_ids
        )
        verification = codes.new_verification(
            deps,
            purpose=Purpose.RECOVERY,
            channel=contact.channel,
            destination=item.value if matches and item else typed or contact.masked,
            account_id=recovery.account_id,
            subject_id=recovery.id,
            session_id=item.id if matches and item else None,
        )
        if matches and recovery.account_id:
            items = await uow.security_info.list_for_account(recovery.account_id)
            await codes.start(
                deps, uow, verification, masked_account_name(items), client_ip=context.ip
            )
            await activity.record(
                deps,
                uow,
                recovery.account_id,
                EventTag.RECOVERY_STARTED,
                context,
                channel=contact.channel.value,
            )
        else:  # look the same (same rules and limits), send nothing
            await codes.record_silent_send(deps, uow, verification, client_ip=context.ip)
            await uow.verifications.add(verification)
        await uow.commit()
    deps.outbox_wakeup()
    return SendAnswer(verification.id)


async def verify(deps: Deps, recovery_id: str, verification_id: str, code: str) -> Recovery:
    """Type back the code; returns the recovery with how many proofs are still needed."""
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        verification = await codes.load_for_holder(uow, verification_id, None, {Purpose.RECOVERY})
        if verification.subject_id != recovery.id:
            raise NotFound("That code was not sent for this recovery.")
        outcome = await codes.check(deps, uow, verification, code)
        item_id = verification.session_id
        if outcome.valid and item_id and item_id not in recovery.proven_item_ids:
            recovery.proven_item_ids.append(item_id)
            item = await uow.security_info.get(item_id)
            if item is not None:
                item.last_used_at = deps.clock.now()
                await uow.security_info.update(item)
            await uow.recoveries.update(recovery)
        await uow.commit()
    codes.raise_if_invalid(outcome)
    return recovery


HELD_KINDS = (InfoKind.AUTHENTICATOR, InfoKind.RECOVERY_CODE)


@dataclass(frozen=True)
class HeldProof:
    recovery: Recovery
    new_recovery_code: str | None = None


async def verify_held(
    deps: Deps, recovery_id: str, kind: InfoKind, code: str, context: RequestContext
) -> HeldProof:
    """An authenticator's code or the recovery code as one proof. Every recovery offers
    both, whatever the account holds (and for unknown names), so the answer tells
    nothing: a wrong code, no such item and no such account are the same refusal."""
    if kind not in HELD_KINDS:
        raise InvalidInput("Choose 'authenticator' or 'recovery_code'.")
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        items = await uow.security_info.list_for_account(recovery.account_id or "acc_none")
        candidates = [
            item
            for item in items
            if item.kind is kind and item.can_prove and item.id not in recovery.proven_item_ids
        ]
        proof = None
        if not candidates:
            # The same limits and the same refusal as a wrong code.
            subject = recovery.account_id or f"recovery:{recovery.id}"
            await abuse.before_subject_check(deps, subject)
            await abuse.after_subject_check(deps, subject, False)
        for item in candidates:
            proof = await authenticators.prove(
                deps, uow, item, code, context, Purpose.RECOVERY.value
            )
            if proof is not None:
                break
        if proof is not None:
            recovery.proven_item_ids.append(proof.item.id)
            await uow.recoveries.update(recovery)
        await uow.commit()
    if proof is None:
        raise InvalidCode("That code is not right, or it was used already.")
    deps.outbox_wakeup()
    return HeldProof(recovery, proof.new_recovery_code)


async def view(deps: Deps, recovery_id: str) -> Recovery:
    """An open recovery as its page shows it again (after a passkey proof)."""
    async with deps.uow() as uow:
        return await _open(uow, deps, recovery_id)


async def passkey_options(deps: Deps, recovery_id: str) -> passkeys.Options:
    """A passkey counts as one proof; offered for every recovery, like held codes."""
    async with deps.uow() as uow:
        await _open(uow, deps, recovery_id)
    return await passkeys.recovery_options(deps, recovery_id)


async def verify_passkey(
    deps: Deps,
    recovery_id: str,
    authentication_id: str,
    credential: dict[str, Any],
    context: RequestContext,
) -> Recovery:
    """One proof from a passkey of the account; any other passkey (or an unknown name)
    gets the same refusal."""
    async with deps.uow() as uow:
        await _open(uow, deps, recovery_id)
    item = await passkeys.answer(
        deps, authentication_id, PasskeyPurpose.RECOVERY, recovery_id, credential, context
    )
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        if item.account_id != recovery.account_id or item.id in recovery.proven_item_ids:
            raise PasskeyUnknown()
        recovery.proven_item_ids.append(item.id)
        await uow.recoveries.update(recovery)
        await uow.commit()
    return recovery


async def reset_password(
    deps: Deps, recovery_id: str, new_password: str, context: RequestContext
) -> None:
    """Set the new password: every session ends and every contact is told."""
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        if recovery.account_id is None or recovery.proofs_left > 0:
            raise RecoveryProofMissing(
                f"Prove it's you with {recovery.proofs_left or 1} more code(s) first, each "
                "sent to a different contact."
            )
        names = await uow.security_info.list_sign_in_names(recovery.account_id)
        account = await uow.accounts.get(recovery.account_id)
    # Proven, so the holder may learn it: an operator's lock stops recovery too.
    if account is not None and account.locked:
        raise AccountLocked()
    check_password_strength(new_password, context=tuple(n.value.split("@")[0] for n in names))
    new_hash = await deps.passwords.hash(new_password)
    now = deps.clock.now()
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        account = await uow.accounts.get(recovery.account_id or "")
        if account is None:
            raise NotFound("This recovery has ended; start again from 'forgot password'.")
        if account.locked:
            raise AccountLocked()
        account.password_hash = new_hash
        account.password_changed_at = now
        account.password_reset_required = False
        await uow.accounts.update(account)
        recovery.completed_at = now
        await uow.recoveries.update(recovery)
        revoked = await uow.sessions.revoke_all(account.id, now)
        await activity.record(
            deps, uow, account.id, EventTag.RECOVERY_COMPLETED, context, sessions=revoked
        )
        await notify_contacts(deps, uow, account, "password_reset", {})
        await uow.commit()
    deps.outbox_wakeup()


async def resend_code(
    deps: Deps, recovery_id: str, verification_id: str, *, client_ip: str | None
) -> SendAnswer:
    """I didn't get a code: the same answer whether or not a code goes out."""
    async with deps.uow() as uow:
        recovery = await _open(uow, deps, recovery_id)
        verification = await codes.load_for_holder(uow, verification_id, None, {Purpose.RECOVERY})
        if verification.subject_id != recovery.id:
            raise NotFound("That code was not sent for this recovery.")
        await codes.resend_in(deps, uow, verification, client_ip=client_ip)
        await uow.commit()
    deps.outbox_wakeup()
    return SendAnswer(verification.id)
