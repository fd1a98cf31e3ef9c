"""Start and stop the processes under test: secinfo (``secinfo serve``) or the floor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
BENCH_DATABASE = "secinfo_bench"
SECRET = "bench-secret-" + "s" * 40
ENCRYPTION_KEY = "YmVuY2gta2V5LWJlbmNoLWtleS1iZW5jaC1rZXktMzI="  # 32 bytes, bench only
# The contacts' blind-index key (32 bytes, bench only): the floor looks sign-in names up
# by the same keyed hash secinfo stores.
INDEX_KEY = "YmVuY2gtaW5kZXgta2V5LWJlbmNoLWluZGV4LWtleSE="


@dataclass(frozen=True)
class Backend:
    """Where the data lives and how many API processes serve it."""

    database: str  # "sqlite" or "postgresql"
    processes: int
    # 0: each `serve` delivers in-process (the embedded default); N: the production
    # shape, `serve --no-worker` plus N separate `secinfo worker` processes.
    workers: int = 0

    @property
    def label(self) -> str:
        suffix = f"+{self.workers}w" if self.workers else ""
        return f"{self.database}x{self.processes}{suffix}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fresh_database(backend: Backend, workdir: Path) -> str:
    """An empty database for one backend; returns its URL."""
    if backend.database == "sqlite":
        path = workdir / "secinfo-bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    drop_database()
    subprocess.run([*PG_ADMIN, f"CREATE DATABASE {BENCH_DATABASE}"], check=True)
    return f"postgresql://postgres@127.0.0.1:5432/{BENCH_DATABASE}"


def drop_database() -> None:
    subprocess.run(
        [*PG_ADMIN, f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)"], check=True
    )


def raised_rate_limits() -> str | None:
    """Every named rate limit raised far above what the bench can reach.

    All load comes from one address and one API key, so the per-IP and per-key limits
    would otherwise measure the limiter's refusals, not the service. ``--set
    rate_limits=...`` replaces this.
    """
    try:
        from secinfo.domain.limits import DEFAULT_LIMITS
    except ImportError:  # a version without named limits
        return None
    return json.dumps({name: "10000000/minute" for name in DEFAULT_LIMITS})


def secinfo_argon2_defaults() -> tuple[int, int]:
    """The argon2id cost secinfo uses unless a run sets one (the floor hashes alike)."""
    try:
        from secinfo.domain.passwords import PasswordHashPolicy
    except ImportError:  # a version from before the policy object: its old defaults
        return 3, 65536
    policy = PasswordHashPolicy()
    return policy.time_cost, policy.memory_kib


def secinfo_env(database_url: str, workdir: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECINFO_")}
    env.update(
        SECINFO_ENV="development",  # the development mailbox is where the bench reads codes
        SECINFO_DATABASE_URL=database_url,
        SECINFO_DATA_DIR=str(workdir / "data"),
        SECINFO_SECRET_KEY=SECRET,
        SECINFO_ENCRYPTION_KEYS=ENCRYPTION_KEY,
        SECINFO_CONTACT_INDEX_KEY=INDEX_KEY,
    )
    limits = raised_rate_limits()
    if limits is not None:
        env["SECINFO_RATE_LIMITS"] = limits
    # Extra settings from --set (e.g. rate limits raised for the bench), as SECINFO_*.
    env.update({f"SECINFO_{name.upper()}": value for name, value in settings.items()})
    return env


def secinfo_cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "secinfo"), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


@dataclass
class Fleet:
    """N processes of one app on N ports (the client spreads its connections over them)."""

    ports: list[int]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_secinfo(backend: Backend, env: dict[str, str], logdir: Path) -> Fleet:
    """``secinfo serve`` once per process, each with its own in-process delivery loop, or
    (``backend.workers``) with ``--no-worker`` beside separate ``secinfo worker``s, whose
    CPU counts as the server's too."""
    fleet = Fleet([free_port() for _ in range(backend.processes)])
    for index, port in enumerate(fleet.ports):
        command = [str(VENV_BIN / "secinfo"), "serve", "--port", str(port), "--no-migrate"]
        if backend.workers:
            command.append("--no-worker")
        log = (logdir / f"secinfo-{backend.label}-{index}.log").open("ab")
        fleet.processes.append(
            subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        )
    wait_ready(fleet)
    # A worker's log says when it delivers, and on PostgreSQL when it listens: a cell
    # that began before would time the worker's start-up, not the service.
    ready = b"delivery.listening" if backend.database == "postgresql" else b"delivering"
    for index in range(backend.workers):
        path = logdir / f"secinfo-{backend.label}-worker-{index}.log"
        already = path.stat().st_size if path.exists() else 0
        log = path.open("ab")
        process = subprocess.Popen(
            # Woken by PostgreSQL LISTEN/NOTIFY on every queued message: no fast polling.
            [str(VENV_BIN / "secinfo"), "worker"],
            env={**env, "PYTHONUNBUFFERED": "1"},  # the log line shows when written
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        fleet.processes.append(process)
        deadline = time.monotonic() + 60
        while ready not in path.read_bytes()[already:]:
            if process.poll() is not None or time.monotonic() > deadline:
                fleet.stop()
                raise RuntimeError(f"the worker did not start: see {path}")
            time.sleep(0.05)
    return fleet


def start_floor(
    backend: Backend, database_url: str, env: dict[str, str], logdir: Path, pool_size: int
) -> Fleet:
    fleet = Fleet([free_port() for _ in range(backend.processes)])
    time_cost, memory_kib = secinfo_argon2_defaults()
    floor_env = dict(env)
    floor_env.update(
        BENCH_FLOOR_DATABASE_URL=database_url,
        BENCH_FLOOR_SECRET=SECRET,
        BENCH_FLOOR_INDEX_KEY=INDEX_KEY,
        BENCH_FLOOR_POOL=str(pool_size),
        BENCH_FLOOR_ARGON2_TIME=env.get("SECINFO_ARGON2_TIME_COST", str(time_cost)),
        BENCH_FLOOR_ARGON2_MEMORY=env.get("SECINFO_ARGON2_MEMORY_KIB", str(memory_kib)),
    )
    for index, port in enumerate(fleet.ports):
        command = [
            str(VENV_BIN / "python"), "-m", "uvicorn", "bench.http.floor:app",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        log = (logdir / f"floor-{backend.label}-{index}.log").open("ab")
        fleet.processes.append(
            subprocess.Popen(command, env=floor_env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        )
    wait_ready(fleet)
    return fleet


def wait_ready(fleet: Fleet, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for port, process in zip(fleet.ports, fleet.processes, strict=True):
        while True:
            if process.poll() is not None:
                fleet.stop()
                raise RuntimeError(f"process on port {port} exited ({process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                fleet.stop()
                raise RuntimeError(f"process on port {port} did not become ready")
            time.sleep(0.1)


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rss_mib_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_pids(fleet: Fleet) -> list[int]:
    return fleet.pids
