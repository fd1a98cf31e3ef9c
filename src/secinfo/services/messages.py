"""Queue messages in the outbox, inside the caller's transaction."""

from __future__ import annotations

from secinfo.domain.contacts import Channel, mask
from secinfo.domain.model import Account, OutgoingMessage, SecurityInfo
from secinfo.domain.verification import Verification
from secinfo.ports import UnitOfWork
from secinfo.services.deps import Deps, new_id


async def queue_message(
    deps: Deps,
    uow: UnitOfWork,
    *,
    channel: Channel,
    destination: str,
    template: str,
    locale: str,
    context: dict[str, object],
    verification: Verification | None = None,
) -> OutgoingMessage:
    config = deps.config
    rendered = deps.renderer.render(
        template,
        channel,
        locale,
        {"product": config.product_name, "domain": config.web_domain, **context},
    )
    now = deps.clock.now()
    message = OutgoingMessage(
        id=new_id("msg"),
        channel=channel,
        destination=destination,
        template=template,
        locale=locale,
        subject=rendered.subject,
        body=rendered.text,
        created_at=now,
        carries_secret=verification is not None,
        verification_id=verification.id if verification else None,
        expires_at=verification.expires_at if verification else None,
        next_attempt_at=now,
    )
    await uow.outbox.add(message)
    return message


async def queue_code(
    deps: Deps,
    uow: UnitOfWork,
    verification: Verification,
    code: str,
    masked_account: str,
    sender_name: str | None = None,
) -> None:
    """The code message; ``sender_name`` (an integrator's service name) replaces the
    product name the message says it comes from."""
    naming = {"product": sender_name} if sender_name else {}
    await queue_message(
        deps,
        uow,
        channel=verification.channel,
        destination=verification.destination,
        template=f"code_{verification.purpose.value}",
        locale=verification.locale,
        context={
            "code": code,
            "account": masked_account,
            "minutes": int(deps.config.code_policy.ttl.total_seconds() // 60),
            **naming,
        },
        verification=verification,
    )


async def notify_contacts(
    deps: Deps,
    uow: UnitOfWork,
    account: Account,
    template: str,
    context: dict[str, object],
    *,
    also: tuple[SecurityInfo, ...] = (),
    exclude: tuple[str, ...] = (),
) -> int:
    """Send a security notice to every active contact of the account (and ``also``),
    except the items whose ids are in ``exclude``."""
    items = [item for item in await uow.security_info.list_for_account(account.id)]
    recipients: dict[tuple[str, str], SecurityInfo] = {}
    for item in [*items, *also]:
        channel = item.channel
        if channel is None or item.id in exclude:
            continue
        if not item.can_receive_codes and item not in also:
            continue
        recipients.setdefault((channel.value, item.value), item)
    account_label = masked_account_name(items)
    for (channel_value, value), _item in recipients.items():
        await queue_message(
            deps,
            uow,
            channel=Channel(channel_value),
            destination=value,
            template=template,
            locale=account.locale,
            context={"account": account_label, **context},
        )
    return len(recipients)


def masked_account_name(items: list[SecurityInfo]) -> str:
    """The account as messages name it: its first sign-in name, masked."""
    for item in items:
        if item.sign_in and item.channel is not None:
            return mask(item.channel, item.value)
    for item in items:
        if item.channel is not None:
            return mask(item.channel, item.value)
    return "your account"
