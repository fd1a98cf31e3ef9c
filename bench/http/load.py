"""Scenarios and the cell runner: virtual users, each on its own keep-alive connection."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.http.client import Connection, HttpError, Response, cpu_seconds
from bench.http.mailbox import MailboxTail
from bench.http.servers import cpu_seconds_of, machine_busy_seconds

PASSWORD = "bench horse battery staple 42"
CODE_WAIT_SECONDS = 15.0
SCENARIOS = ("verify", "signin", "mixed")
# Also: "twilio", the verify pair through the Twilio Verify v2-compatible API (form bodies,
# HTTP Basic, Twilio's shapes), for a figure beside "verify" in the same run.
# mixed: 80 % verify pairs, 15 % sign-ins, 5 % security-info reads
MIX = (("verify", 0.80), ("signin", 0.15), ("read", 0.05))


@dataclass
class Target:
    """One running app and what the scenarios need to talk to it."""

    ports: list[int]
    api_key: str
    mailbox: MailboxTail
    run_id: str
    # The Twilio-compatible API: base64 "AccountSid:AuthToken" and a service sid.
    twilio_basic: str | None = None
    twilio_service: str | None = None
    accounts: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def new_destination(self) -> str:
        """A distinct address per pair: no resend cool-down or send ceiling is hit."""
        return f"v{self.run_id}-{next(self._serial)}@bench.example"


@dataclass
class Recorder:
    window_start: float = 0.0
    window_end: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    op_latencies: dict[str, list[float]] = field(default_factory=dict)
    ops: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def in_window(self, ended: float) -> bool:
        return self.window_start <= ended <= self.window_end

    def request(self, name: str, started: float, ended: float) -> None:
        if self.in_window(ended):
            self.requests += 1
            self.latencies.setdefault(name, []).append((ended - started) * 1000)

    def op(self, name: str, started: float, ended: float) -> None:
        if self.in_window(ended):
            self.ops[name] += 1
            self.op_latencies.setdefault(name, []).append((ended - started) * 1000)

    def error(self, what: str) -> None:
        self.errors[what] += 1  # counted during warm-up too: any error is one too many


async def _call(
    connection: Connection,
    recorder: Recorder,
    name: str,
    expect: int,
    method: str,
    path: str,
    body: object = None,
    token: str | None = None,
) -> Response | None:
    started = time.monotonic()
    try:
        response = await connection.request(method, path, body, token)
    except HttpError as error:
        recorder.error(f"{name}: {error}")
        return None
    recorder.request(name, started, time.monotonic())
    if response.status != expect:
        recorder.error(f"{name}: HTTP {response.status} {response.body[:120]!r}")
        return None
    return response


async def verify_pair(connection: Connection, target: Target, recorder: Recorder) -> bool:
    """An integrator starts a verification, the person reads the code, it is checked."""
    to = target.new_destination()
    code_arrives = target.mailbox.expect(to)
    started = await _call(
        connection,
        recorder,
        "start",
        201,
        "POST",
        "/v1/verifications",
        {"to": to, "channel": "email"},
        target.api_key,
    )
    if started is None:
        target.mailbox.forget(to)
        return False
    try:
        code = await asyncio.wait_for(code_arrives, CODE_WAIT_SECONDS)
    except TimeoutError:
        target.mailbox.forget(to)
        recorder.error("code not delivered in time")
        return False
    checked = await _call(
        connection,
        recorder,
        "check",
        200,
        "POST",
        f"/v1/verifications/{started.json()['id']}/check",
        {"code": code},
        target.api_key,
    )
    if checked is None:
        return False
    if checked.json().get("valid") is not True:
        recorder.error("check: the right code was not accepted")
        return False
    return True


async def twilio_pair(connection: Connection, target: Target, recorder: Recorder) -> bool:
    """The same pair through /twilio/v2, as the Twilio SDKs send it."""
    to = target.new_destination()
    code_arrives = target.mailbox.expect(to)
    base = f"/twilio/v2/Services/{target.twilio_service}"
    started = await _twilio_call(
        connection, recorder, "twilio start", 201, f"{base}/Verifications",
        {"To": to, "Channel": "email"}, target,
    )  # fmt: skip
    if started is None:
        target.mailbox.forget(to)
        return False
    try:
        code = await asyncio.wait_for(code_arrives, CODE_WAIT_SECONDS)
    except TimeoutError:
        target.mailbox.forget(to)
        recorder.error("code not delivered in time")
        return False
    checked = await _twilio_call(
        connection, recorder, "twilio check", 200, f"{base}/VerificationCheck",
        {"VerificationSid": started.json()["sid"], "Code": code}, target,
    )  # fmt: skip
    if checked is None:
        return False
    if checked.json().get("valid") is not True:
        recorder.error("twilio check: the right code was not accepted")
        return False
    return True


async def _twilio_call(
    connection: Connection,
    recorder: Recorder,
    name: str,
    expect: int,
    path: str,
    form: dict[str, str],
    target: Target,
) -> Response | None:
    started = time.monotonic()
    try:
        response = await connection.request("POST", path, form=form, basic=target.twilio_basic)
    except HttpError as error:
        recorder.error(f"{name}: {error}")
        return None
    recorder.request(name, started, time.monotonic())
    if response.status != expect:
        recorder.error(f"{name}: HTTP {response.status} {response.body[:120]!r}")
        return None
    return response


async def sign_in(connection: Connection, target: Target, recorder: Recorder) -> bool:
    name = random.choice(target.accounts)
    answer = await _call(
        connection,
        recorder,
        "signin",
        201,
        "POST",
        "/v1/sessions",
        {"sign_in_name": name, "password": PASSWORD},
    )
    return answer is not None


async def read_security_info(connection: Connection, target: Target, recorder: Recorder) -> bool:
    token = random.choice(target.tokens)
    answer = await _call(
        connection, recorder, "read", 200, "GET", "/v1/me/security-info", token=token
    )
    return answer is not None


Operation = Callable[[Connection, Target, Recorder], Awaitable[bool]]
OPERATIONS: dict[str, Operation] = {
    "verify": verify_pair,
    "twilio": twilio_pair,
    "signin": sign_in,
    "read": read_security_info,
}


def choose(scenario: str, rng: random.Random) -> str:
    if scenario != "mixed":
        return scenario
    roll = rng.random()
    for name, share in MIX:
        if roll < share:
            return name
        roll -= share
    return MIX[-1][0]


async def _user(
    index: int, scenario: str, target: Target, recorder: Recorder, stop_at: float
) -> None:
    connection = Connection("127.0.0.1", target.ports[index % len(target.ports)])
    rng = random.Random(index)
    try:
        while time.monotonic() < stop_at:
            name = choose(scenario, rng)
            started = time.monotonic()
            if await OPERATIONS[name](connection, target, recorder):
                recorder.op(name, started, time.monotonic())
    finally:
        connection.close()


# An open loop reopens a connection idle this long rather than reuse one the server may
# be closing (uvicorn's keep-alive timeout is 5 s): a request on it would break.
IDLE_SECONDS = 2.0


async def _open_loop(
    scenario: str, target: Target, recorder: Recorder, rate: float, limit: int, stop_at: float
) -> None:
    """Start an operation every ``1 / rate`` seconds, whatever the answers take, on at
    most ``limit`` connections at once. An operation's time counts from when it was due,
    so a client that falls behind shows as latency; one due while every connection is
    busy is not started and counts as an error (the offered load was not carried)."""
    rng = random.Random(0)
    free: list[tuple[Connection, float]] = []
    opened = itertools.count()
    running: set[asyncio.Task[None]] = set()

    async def one(name: str, due: float) -> None:
        connection = None
        while free:
            candidate, last_used = free.pop()
            if time.monotonic() - last_used < IDLE_SECONDS:
                connection = candidate
                break
            candidate.close()
        if connection is None:
            connection = Connection("127.0.0.1", target.ports[next(opened) % len(target.ports)])
        try:
            if await OPERATIONS[name](connection, target, recorder):
                recorder.op(name, due, time.monotonic())
        finally:
            free.append((connection, time.monotonic()))

    due = time.monotonic()
    while due < stop_at:
        await asyncio.sleep(max(due - time.monotonic(), 0))
        if len(running) >= limit:
            recorder.error("open loop: every connection busy")
        else:
            task = asyncio.ensure_future(one(choose(scenario, rng), due))
            running.add(task)
            task.add_done_callback(running.discard)
        due += 1 / rate
    if running:
        await asyncio.gather(*running)
    for connection, _ in free:
        connection.close()


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(int(share * len(ordered)), len(ordered) - 1)], 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 2)}


async def run_cell(
    target: Target,
    scenario: str,
    concurrency: int,
    warmup: float,
    duration: float,
    server_pids: list[int],
    rate: float | None = None,
) -> dict[str, Any]:
    """Drive ``concurrency`` users for warm-up + duration; measure only the window.

    With ``rate``, an open loop instead: ``rate`` operations a second on at most
    ``concurrency`` connections (latency at a fixed load, not the most it can carry)."""
    recorder = Recorder()
    begin = time.monotonic()
    recorder.window_start = begin + warmup
    recorder.window_end = recorder.window_start + duration
    if rate is not None:
        users = [
            asyncio.ensure_future(
                _open_loop(scenario, target, recorder, rate, concurrency, recorder.window_end)
            )
        ]
    else:
        users = [
            asyncio.ensure_future(_user(i, scenario, target, recorder, recorder.window_end))
            for i in range(concurrency)
        ]
    await asyncio.sleep(max(recorder.window_start - time.monotonic(), 0))
    client_cpu = cpu_seconds()
    server_cpu = sum(cpu_seconds_of(pid) for pid in server_pids)
    machine_cpu = machine_busy_seconds()
    wall = time.monotonic()
    await asyncio.sleep(max(recorder.window_end - time.monotonic(), 0))
    client_cpu = cpu_seconds() - client_cpu
    server_cpu = sum(cpu_seconds_of(pid) for pid in server_pids) - server_cpu
    machine_cpu = machine_busy_seconds() - machine_cpu
    wall = time.monotonic() - wall
    await asyncio.gather(*users)  # let in-flight operations finish (outside the window)
    all_latencies = [value for values in recorder.latencies.values() for value in values]
    ops = sum(recorder.ops.values())
    return {
        "scenario": scenario,
        "concurrency": concurrency,
        "offered_per_s": rate,
        "warmup_s": warmup,
        "duration_s": duration,
        "ops": ops,
        "throughput": round(ops / duration, 1),
        "unit": {
            "verify": "pairs/s",
            "twilio": "pairs/s",
            "signin": "sign-ins/s",
            "mixed": "operations/s",
        }[scenario],
        "ops_by_kind": dict(recorder.ops),
        "requests": recorder.requests,
        "requests_per_s": round(recorder.requests / duration, 1),
        "latency_ms": percentiles(all_latencies),
        "latency_ms_by_request": {
            name: percentiles(values) for name, values in sorted(recorder.latencies.items())
        },
        "operation_ms": {
            name: percentiles(values) for name, values in sorted(recorder.op_latencies.items())
        },
        "errors": sum(recorder.errors.values()),
        "error_kinds": dict(recorder.errors.most_common(5)),
        "client_cpu_cores": round(client_cpu / wall, 3),
        "server_cpu_cores": round(server_cpu / wall, 3),
        # Everything else busy meanwhile: PostgreSQL, and anything else on the machine.
        "other_cpu_cores": round((machine_cpu - server_cpu - client_cpu) / wall, 3),
    }


async def seed_accounts(target: Target, count: int) -> None:
    """Sign up and confirm ``count`` accounts through the API (the codes by mailbox)."""

    async def one(index: int) -> None:
        connection = Connection("127.0.0.1", target.ports[index % len(target.ports)])
        name = f"acct{target.run_id}-{index}@bench.example"
        code_arrives = target.mailbox.expect(name)
        started = await connection.request(
            "POST", "/v1/accounts", {"sign_in_name": name, "password": PASSWORD}
        )
        if started.status != 202:
            raise RuntimeError(f"sign-up failed: {started.status} {started.body!r}")
        code = await asyncio.wait_for(code_arrives, CODE_WAIT_SECONDS)
        confirmed = await connection.request(
            "POST",
            "/v1/accounts/confirm",
            {"verification_id": started.json()["verification_id"], "code": code},
        )
        if confirmed.status != 201:
            raise RuntimeError(f"confirm failed: {confirmed.status} {confirmed.body!r}")
        target.accounts.append(name)
        target.tokens.append(confirmed.json()["token"])
        connection.close()

    gate = asyncio.Semaphore(4)

    async def gated(index: int) -> None:
        async with gate:
            await one(index)

    await asyncio.gather(*(gated(index) for index in range(count)))
