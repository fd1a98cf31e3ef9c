"""The floor: a bare ASGI app doing the same database statements as secinfo, nothing else.

No framework, no validation, no business rules beyond what the statements need: it
answers the four calls the scenarios make, on the same server (uvicorn, uvloop,
httptools), driver (asyncpg or aiosqlite) and schema, and delivers its codes to the
development mailbox table with the same three statements as secinfo's worker. What
secinfo reaches as a share of this is what its layers cost.

Run by the harness as ``uvicorn bench.http.floor:app``; configured by ``BENCH_FLOOR_*``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import orjson
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Tx:
    """Statements inside one transaction (or one autocommit statement)."""

    def __init__(self, connection: Any, sqlite: bool) -> None:
        self.connection = connection
        self.sqlite = sqlite

    def _sql(self, sql: str) -> str:
        if self.sqlite:
            sql = re.sub(r"\$\d+", "?", sql).replace(" FOR UPDATE SKIP LOCKED", "")
            return sql.replace(" FOR UPDATE", "")
        return sql

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if self.sqlite:
            cursor = await self.connection.execute(self._sql(sql), args)
            return list(await cursor.fetchall())
        return list(await self.connection.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def execute(self, sql: str, *args: Any) -> None:
        if self.sqlite:
            await self.connection.execute(self._sql(sql), args)
        else:
            await self.connection.execute(sql, *args)


class Database:
    def __init__(self, url: str, pool_size: int) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.pool_size = pool_size
        self._pool: Any = None
        self._sqlite: Any = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.sqlite:
            import aiosqlite

            self._sqlite = await aiosqlite.connect(self.url.split("///", 1)[1])
            self._sqlite.row_factory = None
            await self._sqlite.execute("PRAGMA journal_mode=WAL")
            await self._sqlite.execute("PRAGMA synchronous=NORMAL")
            await self._sqlite.execute("PRAGMA busy_timeout=10000")
            await self._sqlite.commit()
        else:
            import asyncpg

            url = self.url.replace("postgresql+asyncpg://", "postgresql://")
            self._pool = await asyncpg.create_pool(url, min_size=1, max_size=self.pool_size)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._sqlite is not None:
            await self._sqlite.close()

    def ts(self, value: datetime) -> Any:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self.sqlite:
            async with self._lock:  # one connection, like secinfo's SQLite pool
                await self._sqlite.execute("BEGIN")
                try:
                    yield Tx(self._sqlite, True)
                except BaseException:
                    await self._sqlite.rollback()
                    raise
                await self._sqlite.commit()
        else:
            async with self._pool.acquire() as connection, connection.transaction():
                yield Tx(connection, False)

    @asynccontextmanager
    async def single(self) -> AsyncIterator[Tx]:
        """For a lone read: autocommit on PostgreSQL."""
        if self.sqlite:
            async with self._lock:
                yield Tx(self._sqlite, True)
        else:
            async with self._pool.acquire() as connection:
                yield Tx(connection, False)


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(16)}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


class Floor:
    def __init__(self) -> None:
        env = os.environ
        self.db = Database(env["BENCH_FLOOR_DATABASE_URL"], int(env.get("BENCH_FLOOR_POOL", "20")))
        self.secret = env.get("BENCH_FLOOR_SECRET", "floor-secret").encode()
        self.box = AESGCM(hashlib.sha256(b"floor:" + self.secret).digest())
        # secinfo stores a sign-in name as the HMAC of its folded form (contacts at rest).
        self.index_key = base64.b64decode(env.get("BENCH_FLOOR_INDEX_KEY", ""))
        self.hasher = PasswordHasher(
            time_cost=int(env.get("BENCH_FLOOR_ARGON2_TIME", "2")),
            memory_cost=int(env.get("BENCH_FLOOR_ARGON2_MEMORY", "19456")),
            parallelism=1,
            type=Type.ID,
        )
        self.wake = asyncio.Event()
        self.worker_id = _new_id("floor")
        self._delivery: asyncio.Task[None] | None = None
        self._keys: dict[str, tuple[str, float]] = {}

    # -- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        token = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value.decode().partition(" ")[2]
        path: str = scope["path"]
        try:
            if path == "/v1/verifications":
                status, answer = await self.start(token, orjson.loads(body))
            elif path.startswith("/v1/verifications/") and path.endswith("/check"):
                status, answer = await self.check(token, path.split("/")[3], orjson.loads(body))
            elif path == "/v1/sessions":
                status, answer = await self.sign_in(orjson.loads(body))
            elif path == "/v1/me/security-info":
                status, answer = await self.security_info(token)
            elif path == "/healthz":
                status, answer = 200, {"status": "ok"}
            else:
                status, answer = 404, {"error": {"code": "not_found"}}
        except Exception as error:  # the floor reports, never hides, a failure
            status, answer = 500, {"error": {"code": type(error).__name__, "message": str(error)}}
        payload = orjson.dumps(answer)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.db.open()
                self._delivery = asyncio.get_running_loop().create_task(self._deliver_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._delivery is not None:
                    self._delivery.cancel()
                await self.db.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the four calls -----------------------------------------------------------------
    async def _api_key_id(self, token: str | None) -> str | None:
        """Like secinfo: a valid key is trusted for 10 s before it is looked up again."""
        key_hash = _token_hash(token or "")
        hit = self._keys.get(key_hash)
        if hit is not None and time.monotonic() - hit[1] < 10:
            return hit[0]
        async with self.db.single() as tx:
            row = await tx.fetchrow(
                "SELECT id, revoked_at FROM api_keys WHERE key_hash = $1", key_hash
            )
        if row is None or row[1] is not None:
            return None
        self._keys[key_hash] = (row[0], time.monotonic())
        return str(row[0])

    async def start(self, token: str | None, body: dict[str, Any]) -> tuple[int, object]:
        api_key_id = await self._api_key_id(token)
        if api_key_id is None:
            return 401, {"error": {"code": "invalid_api_key"}}
        now = _now()
        to = str(body["to"]).lower()
        channel = body["channel"]
        verification_id = _new_id("ver")
        code = f"{secrets.randbelow(10**6):06d}"
        code_hash = hmac.new(
            self.secret, f"{verification_id}:{code}".encode(), hashlib.sha256
        ).hexdigest()
        expires = now + timedelta(minutes=10)
        message_id = _new_id("msg")
        nonce = os.urandom(12)
        sealed = base64.urlsafe_b64encode(
            nonce + self.box.encrypt(nonce, f"Your code is: {code}\n".encode(), message_id.encode())
        ).decode()
        async with self.db.transaction() as tx:
            await tx.fetchrow(
                "SELECT id FROM verifications WHERE api_key_id = $1 AND destination = $2 "
                "AND channel = $3 AND status = 'pending' AND expires_at > $4 "
                "ORDER BY created_at DESC LIMIT 1 FOR UPDATE",
                api_key_id,
                to,
                channel,
                self.db.ts(now),
            )
            await tx.execute(
                "INSERT INTO verifications (id, purpose, channel, destination, status, "
                "api_key_id, locale, check_attempts, send_attempts, codes, created_at, "
                "expires_at, last_sent_at, version) VALUES ($1, 'integrator', $2, $3, "
                "'pending', $4, 'en', 0, 1, $5, $6, $7, $8, 1)",
                verification_id,
                channel,
                to,
                api_key_id,
                orjson.dumps([[code_hash, now.isoformat()]]).decode(),
                self.db.ts(now),
                self.db.ts(expires),
                self.db.ts(now),
            )
            await tx.execute(
                "INSERT INTO outbox (id, channel, destination, template, locale, subject, body, "
                "carries_secret, verification_id, status, attempts, created_at, "
                "next_attempt_at, expires_at) VALUES ($1, $2, $3, 'code_integrator', 'en', "
                "'Your code', $4, true, $5, 'queued', 0, $6, $7, $8)",
                message_id,
                channel,
                to,
                sealed,
                verification_id,
                self.db.ts(now),
                self.db.ts(now),
                self.db.ts(expires),
            )
        self.wake.set()
        return 201, {"id": verification_id, "status": "pending", "channel": channel}

    async def check(
        self, token: str | None, verification_id: str, body: dict[str, Any]
    ) -> tuple[int, object]:
        api_key_id = await self._api_key_id(token)
        if api_key_id is None:
            return 401, {"error": {"code": "invalid_api_key"}}
        now = _now()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT api_key_id, status, codes, check_attempts FROM verifications "
                "WHERE id = $1 FOR UPDATE",
                verification_id,
            )
            if row is None or row[0] != api_key_id:
                return 404, {"error": {"code": "not_found"}}
            typed = hmac.new(
                self.secret, f"{verification_id}:{body['code']}".encode(), hashlib.sha256
            ).hexdigest()
            valid = any(hmac.compare_digest(typed, h) for h, _ in orjson.loads(row[2]))
            attempts = row[3] + (0 if valid else 1)
            await tx.execute(
                "UPDATE verifications SET status = $1, approved_at = $2, check_attempts = $3, "
                "version = version + 1 WHERE id = $4",
                "approved" if valid else row[1],
                self.db.ts(now) if valid else None,
                attempts,
                verification_id,
            )
        return 200, {"id": verification_id, "valid": valid, "attempts_left": 5 - attempts}

    async def sign_in(self, body: dict[str, Any]) -> tuple[int, object]:
        name = str(body["sign_in_name"]).lower()
        key = hmac.new(self.index_key, name.encode(), hashlib.sha256).hexdigest()
        async with self.db.single() as tx:
            item = await tx.fetchrow(
                "SELECT account_id FROM security_info WHERE value_key = $1 AND sign_in "
                "AND state = 'active'",
                key,
            )
        account = None
        if item is not None:
            async with self.db.single() as tx:
                account = await tx.fetchrow(
                    "SELECT password_hash FROM accounts WHERE id = $1", item[0]
                )
        if account is None:
            return 401, {"error": {"code": "invalid_credentials"}}
        if not await anyio.to_thread.run_sync(self._verify, account[0], str(body["password"])):
            return 401, {"error": {"code": "invalid_credentials"}}
        now = _now()
        token = f"sis_{secrets.token_urlsafe(32)}"
        session_id = _new_id("ses")
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO sessions (id, account_id, token_hash, created_at, expires_at, "
                "last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)",
                session_id,
                item[0],
                _token_hash(token),
                self.db.ts(now),
                self.db.ts(now + timedelta(days=30)),
                self.db.ts(now),
            )
            await tx.execute(
                "UPDATE accounts SET last_sign_in_at = $1 WHERE id = $2", self.db.ts(now), item[0]
            )
            await tx.execute(
                "INSERT INTO activity_events (id, account_id, type, created_at, outcome, "
                "details) VALUES ($1, $2, 'account:sign_in', $3, 'success', '{}')",
                _new_id("evt"),
                item[0],
                self.db.ts(now),
            )
        return 201, {"token": token, "session_id": session_id, "account_id": item[0]}

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def security_info(self, token: str | None) -> tuple[int, object]:
        async with self.db.single() as tx:
            session = await tx.fetchrow(
                "SELECT account_id, revoked_at FROM sessions WHERE token_hash = $1",
                _token_hash(token or ""),
            )
        if session is None or session[1] is not None:
            return 401, {"error": {"code": "unauthenticated"}}
        async with self.db.single() as tx:
            rows = await tx.fetch(
                "SELECT id, kind, value, label, state, sign_in, added_at FROM security_info "
                "WHERE account_id = $1 AND state != 'removed' ORDER BY added_at, id",
                session[0],
            )
        items = [
            {
                "id": row[0],
                "kind": row[1],
                "value": row[2][:2] + "*****",
                "label": row[3],
                "state": row[4],
                "sign_in": bool(row[5]),
                "added_at": _parse_time(row[6]).isoformat(),
            }
            for row in rows
        ]
        return 200, {"items": items}

    # -- delivery: claim, write to the mailbox, mark sent (secinfo's three statements) --
    async def _deliver_loop(self) -> None:
        while True:
            claimed = await self._deliver_batch()
            if not claimed:
                self.wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 1.0)

    async def _deliver_batch(self) -> int:
        now = _now()
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE outbox SET status = 'sending', lease_until = $1, worker_id = $2, "
                "attempts = attempts + 1 WHERE id IN (SELECT id FROM outbox WHERE status IN "
                "('queued', 'failed') AND next_attempt_at <= $3 ORDER BY next_attempt_at "
                "LIMIT 50 FOR UPDATE SKIP LOCKED) "
                "RETURNING id, channel, destination, subject, body, created_at",
                self.db.ts(now + timedelta(seconds=60)),
                self.worker_id,
                self.db.ts(now),
            )
        for message_id, channel, destination, subject, body, created_at in rows:
            raw = base64.urlsafe_b64decode(body)
            text = self.box.decrypt(raw[:12], raw[12:], message_id.encode()).decode()
            async with self.db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO dev_mailbox (message_id, channel, destination, subject, body, "
                    "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    message_id,
                    channel,
                    destination,
                    subject,
                    text,
                    created_at,
                )
            async with self.db.transaction() as tx:
                await tx.execute(
                    "UPDATE outbox SET status = 'sent', sent_at = $1, lease_until = NULL, "
                    "body = '' WHERE id = $2",
                    self.db.ts(_now()),
                    message_id,
                )
        return len(rows)


app = Floor()
