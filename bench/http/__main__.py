"""``python -m bench.http``: start secinfo and the floor, drive load, write results.

    .venv/bin/python -m bench.http            # full matrix (~13 min on 2 cores)
    .venv/bin/python -m bench.http --quick    # ~2 min: sqlite x1 and postgresql x2, c=1/32
    .venv/bin/python -m bench.http --soak     # 5 min of verify, RSS of each process
    .venv/bin/python -m bench.http --profile  # py-spy on one process during verify
    .venv/bin/python -m bench.http --rush     # sign-in c=8, then 256 clients x 30 s
    .venv/bin/python -m bench.http --rate 150 # open loop: 150 operations/s (latency at a
                                              # fixed load; --concurrency caps connections)

Results go to bench/results/<mode>.json, .png and .md; logs to a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.http import report
from bench.http.client import Connection
from bench.http.load import SCENARIOS, Target, run_cell, seed_accounts
from bench.http.mailbox import MailboxTail
from bench.http.rush import rush as run_rush
from bench.http.servers import (
    ROOT,
    VENV_BIN,
    Backend,
    drop_database,
    fresh_database,
    rss_mib_of,
    secinfo_cli,
    secinfo_env,
    server_pids,
    start_floor,
    start_secinfo,
)

FULL_BACKENDS = [Backend("sqlite", 1), Backend("postgresql", 1), Backend("postgresql", 2)]
FULL_BACKENDS.append(Backend("postgresql", 4))
QUICK_BACKENDS = [Backend("sqlite", 1), Backend("postgresql", 2)]
SEED_ACCOUNTS = 16


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a ~2 minute subset")
    mode.add_argument("--soak", action="store_true", help="5 minutes of verify; RSS over time")
    mode.add_argument("--profile", action="store_true", help="py-spy profile of verify")
    mode.add_argument(
        "--rush",
        action="store_true",
        help="sign-in at c=8 (secinfo and floor), then a rush: c=256 sign-ins for 30 s",
    )
    parser.add_argument(
        "--honour-retry-after",
        action="store_true",
        help="--rush: a refused client waits Retry-After (x1-1.5) before trying again "
        "(default: it tries again at once, the harder case)",
    )
    parser.add_argument(
        "--backends",
        help="e.g. sqlite:1,postgresql:2; postgresql:2+1 = 2 API processes with --no-worker "
        "and 1 separate worker (default: by mode)",
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--concurrency", help="e.g. 1,8,32,128 (default: by mode)")
    parser.add_argument("--apps", default="secinfo,floor", help="secinfo,floor")
    parser.add_argument("--warmup", type=float, help="seconds before measuring")
    parser.add_argument("--duration", type=float, help="measured seconds per cell")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a secinfo setting for the run (SECINFO_NAME), e.g. to raise rate limits",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="open loop: start this many operations a second (default: closed loop)",
    )
    parser.add_argument("--name", help="results file name (default: the mode)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args()


def _backends(text: str) -> list[Backend]:
    backends = []
    for part in text.split(","):  # "postgresql:2" or, with separate workers, "postgresql:2+1"
        database, _, shape = part.partition(":")
        processes, _, workers = shape.partition("+")
        backends.append(Backend(database.strip(), int(processes or 1), int(workers or 0)))
    return backends


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    pg = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "postgresql": pg,
    }


async def run_app(
    app: str,
    backend: Backend,
    database_url: str,
    env: dict[str, str],
    api_key: str,
    scenarios: list[str],
    concurrencies: list[int],
    warmup: float,
    duration: float,
    logdir: Path,
    seed: dict[str, list[str]],
    rate: float | None = None,
) -> list[dict[str, Any]]:
    if app == "secinfo":
        fleet = start_secinfo(backend, env, logdir)
    else:
        pool = int(env.get("SECINFO_DB_POOL_SIZE", "10")) * 2  # secinfo: pool + overflow
        fleet = start_floor(backend, database_url, env, logdir, pool)
    mailbox = MailboxTail(database_url)
    await mailbox.start()
    target = Target(fleet.ports, api_key, mailbox, run_id=f"{app[0]}{secrets.token_hex(3)}")
    if app != "secinfo":  # the floor has no Twilio-compatible API
        scenarios = [s for s in scenarios if s != "twilio"]
    elif "twilio" in scenarios:
        await twilio_service(target, env)
    cells = []
    try:
        if not seed["accounts"] and any(s != "verify" for s in scenarios):
            await seed_accounts(target, SEED_ACCOUNTS)
            seed["accounts"], seed["tokens"] = target.accounts, target.tokens
        target.accounts, target.tokens = seed["accounts"], seed["tokens"]
        pids = server_pids(fleet)
        for scenario in scenarios:
            for concurrency in concurrencies:
                cell = await run_cell(
                    target, scenario, concurrency, warmup, duration, pids, rate=rate
                )
                cell.update(app=app, backend=backend.label, processes=backend.processes)
                cell["rss_mib"] = [round(rss_mib_of(pid), 1) for pid in pids]
                offered = f"at {rate:g}/s " if rate is not None else ""
                print(
                    f"{app:8} {backend.label:13} {scenario:7} c={concurrency:<4} {offered}"
                    f"{cell['throughput']:>8} {cell['unit']:13} p50 {cell['latency_ms']['p50']}"
                    f" p99 {cell['latency_ms']['p99']} ms  errors {cell['errors']}  "
                    f"cpu client {cell['client_cpu_cores']} server {cell['server_cpu_cores']}",
                    flush=True,
                )
                cells.append(cell)
    finally:
        await mailbox.stop()
        fleet.stop()
    return cells


async def twilio_service(target: Target, env: dict[str, str]) -> None:
    """Credentials from the CLI and one service, for the "twilio" scenario."""
    lines = secinfo_cli("twilio-credentials", "create", "bench", env=env).splitlines()
    sid = next(line for line in lines if line.startswith("AC") and len(line) == 34)
    token = lines[lines.index(sid) + 1]
    target.twilio_basic = base64.b64encode(f"{sid}:{token}".encode()).decode()
    connection = Connection("127.0.0.1", target.ports[0])
    try:
        created = await connection.request(
            "POST",
            "/twilio/v2/Services",
            form={"FriendlyName": "bench"},
            basic=target.twilio_basic,
        )
    finally:
        connection.close()
    assert created.status == 201, created.body
    target.twilio_service = created.json()["sid"]


async def prepare(
    backend: Backend, workdir: Path, settings: dict[str, str]
) -> tuple[str, dict[str, str], str]:
    database_url = fresh_database(backend, workdir)
    env = secinfo_env(database_url, workdir, settings)
    secinfo_cli("migrate", env=env)
    output = secinfo_cli("apikey", "create", "bench", env=env)
    api_key = next(line for line in output.split() if line.startswith("sik_"))
    return database_url, env, api_key


async def matrix(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if args.quick:
        backends, concurrencies, warmup, duration = QUICK_BACKENDS, [1, 32], 1.0, 3.0
    else:
        backends, concurrencies, warmup, duration = FULL_BACKENDS, [1, 8, 32, 128], 1.5, 5.0
    if args.backends:
        backends = _backends(args.backends)
    if args.concurrency:
        concurrencies = [int(c) for c in args.concurrency.split(",")]
    warmup = args.warmup if args.warmup is not None else warmup
    duration = args.duration if args.duration is not None else duration
    scenarios = [s for s in args.scenarios.split(",") if s]
    settings = dict(item.split("=", 1) for item in args.set)
    cells: list[dict[str, Any]] = []
    partial = args.out / f"{args.name or ('quick' if args.quick else 'full')}.partial.json"
    for backend in backends:
        database_url, env, api_key = await prepare(backend, workdir, settings)
        seed: dict[str, list[str]] = {"accounts": [], "tokens": []}
        for app in args.apps.split(","):
            partial.write_text(json.dumps(cells))  # what is done so far, should a run fail
            cells += await run_app(
                app, backend, database_url, env, api_key, scenarios, concurrencies,
                warmup, duration, workdir, seed, rate=args.rate,
            )  # fmt: skip
    partial.unlink(missing_ok=True)
    return {"cells": report.with_ratios(cells), "settings": settings}


async def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Verify pairs for 5 minutes; RSS of every API process sampled every 10 s."""
    backend = _backends(args.backends)[0] if args.backends else Backend("postgresql", 2)
    concurrency = int(args.concurrency or 32)
    duration = args.duration or 300.0
    settings = dict(item.split("=", 1) for item in args.set)
    database_url, env, api_key = await prepare(backend, workdir, settings)
    fleet = start_secinfo(backend, env, workdir)
    mailbox = MailboxTail(database_url)
    await mailbox.start()
    target = Target(fleet.ports, api_key, mailbox, run_id=f"s{secrets.token_hex(3)}")
    pids = server_pids(fleet)
    samples: list[dict[str, Any]] = []
    started = time.monotonic()

    async def sample() -> None:
        while True:
            samples.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "rss_mib": [round(rss_mib_of(pid), 1) for pid in pids],
                }
            )
            await asyncio.sleep(10)

    sampler = asyncio.ensure_future(sample())
    try:
        cell = await run_cell(target, "verify", concurrency, 5.0, duration, pids)
    finally:
        sampler.cancel()
        samples.append(
            {
                "t_s": round(time.monotonic() - started, 1),
                "rss_mib": [round(rss_mib_of(pid), 1) for pid in pids],
            }
        )
        await mailbox.stop()
        fleet.stop()
    cell.update(app="secinfo", backend=backend.label, processes=backend.processes)
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    # After warm-up (first 30 s) to separate growth from caches filling once.
    settled = next((s["rss_mib"] for s in samples if s["t_s"] >= 30), first)
    print(
        f"soak: {cell['throughput']} pairs/s, p99 {cell['latency_ms']['p99']} ms, errors "
        f"{cell['errors']}; RSS MiB start {first} after 30 s {settled} end {last}"
    )
    return {
        "cells": [cell],
        "rss": {"start": first, "after_30s": settled, "end": last, "samples": samples},
        "settings": settings,
    }


async def profile(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Verify at c=32 on one PostgreSQL process under py-spy; top frames to JSON."""
    backend = _backends(args.backends)[0] if args.backends else Backend("postgresql", 1)
    concurrency = int(args.concurrency or 32)
    duration = args.duration or 20.0
    settings = dict(item.split("=", 1) for item in args.set)
    database_url, env, api_key = await prepare(backend, workdir, settings)
    raw = workdir / "profile.txt"
    fleet = start_secinfo(backend, env, workdir)
    mailbox = MailboxTail(database_url)
    await mailbox.start()
    target = Target(fleet.ports, api_key, mailbox, run_id=f"p{secrets.token_hex(3)}")
    warmup = 2.0
    spy = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "py-spy"), "record", "--format", "raw", "--rate", "200", "--nonblocking",
        "--duration", str(int(warmup + duration)), "--pid", str(fleet.pids[0]), "-o", str(raw),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        cell = await run_cell(target, "verify", concurrency, warmup, duration, fleet.pids)
        await spy.wait()
    finally:
        await mailbox.stop()
        fleet.stop()
    cell.update(app="secinfo", backend=backend.label, processes=backend.processes)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    top = {
        "samples": total,
        "self": [(frame, round(100 * n / total, 1)) for frame, n in own.most_common(25)],
        "inclusive": [(frame, round(100 * n / total, 1)) for frame, n in inclusive.most_common(60)],
    }
    print(f"profile: {cell['throughput']} pairs/s, p99 {cell['latency_ms']['p99']} ms")
    for frame, share in top["self"][:25]:
        print(f"  self {share:5.1f}%  {frame}")
    shutil.copy(raw, args.out / f"{args.name or 'profile'}.collapsed.txt")
    return {"cells": [cell], "profile": top, "settings": settings}


async def rush_mode(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Sign-in at c=8 for secinfo and the floor, then the rush on secinfo."""
    backend = _backends(args.backends)[0] if args.backends else Backend("postgresql", 1)
    settings = dict(item.split("=", 1) for item in args.set)
    database_url, env, api_key = await prepare(backend, workdir, settings)
    figure_duration = args.duration or 10.0
    seed: dict[str, list[str]] = {"accounts": [], "tokens": []}
    cells: list[dict[str, Any]] = []
    for app in args.apps.split(","):
        cells += await run_app(
            app, backend, database_url, env, api_key, ["signin"], [8], 2.0, figure_duration,
            workdir, seed,
        )  # fmt: skip
    concurrency = int(args.concurrency or 256)
    fleet = start_secinfo(backend, env, workdir)
    mailbox = MailboxTail(database_url)
    await mailbox.start()
    target = Target(fleet.ports, api_key, mailbox, run_id=f"r{secrets.token_hex(3)}")
    target.accounts, target.tokens = seed["accounts"], seed["tokens"]
    try:
        result = await run_rush(
            target,
            server_pids(fleet),
            concurrency=concurrency,
            duration=30.0,
            honour_retry_after=args.honour_retry_after,
        )
    finally:
        await mailbox.stop()
        fleet.stop()
    result.update(backend=backend.label, processes=backend.processes)
    print(
        f"rush {backend.label} c={concurrency}: {result['completed_per_s']} sign-ins/s, "
        f"503 {result['refused_503']} (p99 {result['refused_ms']['p99']} ms), timeouts "
        f"{result['timeouts']}, admitted p99 {result['admitted_ms']['p99']} ms, healthz p99 "
        f"{result['healthz_ms']['p99']} ms, verify {result['verify_request_ms']}, RSS "
        f"{result['rss_mib']}, a sign-in after: {result['sign_in_right_after_ms']} ms"
    )
    return {"cells": report.with_ratios(cells), "rush": result, "settings": settings}


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mode = (
        "soak"
        if args.soak
        else "profile"
        if args.profile
        else "rush"
        if args.rush
        else "quick"
        if args.quick
        else "full"
    )
    name = args.name or mode
    workdir = Path(tempfile.mkdtemp(prefix="secinfo-bench-"))
    began = time.monotonic()
    runner = {"soak": soak, "profile": profile, "rush": rush_mode}.get(mode, matrix)
    try:
        result = asyncio.run(runner(args, workdir))
    finally:
        drop_database()
    result.update(
        mode=mode,
        command=" ".join(["python -m bench.http", *sys.argv[1:]]),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        elapsed_s=round(time.monotonic() - began, 1),
        machine=machine(),
        git=subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        logs=str(workdir),
    )
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    if mode in ("full", "quick"):
        report.plot(result["cells"], args.out / f"{name}.png", f"secinfo bench {result['date']}")
        (args.out / f"{name}.md").write_text(report.markdown(result["cells"]))
    print(f"results: {args.out / name}.json ({result['elapsed_s']} s); logs in {workdir}")


if __name__ == "__main__":
    main()
