"""What the benchmarks read from /proc and how they wait for a quiet machine: one copy for all.

Every script in bench/ imports this module by name (`from measuring import ...`): Python puts
the script's own folder first on sys.path.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on: the name in field 2 may hold spaces."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2:].split()


def _cpu(fields: list[str]) -> float:
    # fields[11], [12]: utime, stime (proc(5) fields 14 and 15).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    return _cpu(_stat_fields(pid))


def _processes() -> Iterable[str]:
    return (entry.name for entry in os.scandir("/proc") if entry.name.isdigit())


def group_cpu_seconds(groups: Iterable[int]) -> dict[int, float]:
    """CPU so far of every live process in each of these process groups: a server started in a
    session of its own together with its workers (signing workers, nginx's worker)."""
    totals = dict.fromkeys(groups, 0.0)
    for pid in _processes():
        try:
            fields = _stat_fields(pid)
        except (OSError, ValueError):
            continue  # gone meanwhile
        group = int(fields[2])  # pgrp
        if group in totals:
            totals[group] += _cpu(fields)
    return totals


def group_memory_bytes(group: int) -> dict[str, int]:
    """RSS and PSS of the live processes of a process group. Forked workers share pages with
    their parent: RSS counts those once per process, PSS divides them among the sharers."""
    rss = pss = 0
    for pid in _processes():
        try:
            if int(_stat_fields(pid)[2]) != group:
                continue
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("Rss", "Pss"):
                    kilobytes = int(value.split()[0]) * 1024
                    rss, pss = (rss + kilobytes, pss) if name == "Rss" else (rss, pss + kilobytes)
        except (OSError, ValueError):
            continue
    return {"rss": rss, "pss": pss}


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def wait_for_quiet_machine(limit_seconds: float, threshold_cores: float = 0.25) -> float:
    """Wait until the machine's busy CPU over a 3 s window is below `threshold_cores` (nothing of
    the bench runs yet), at most `limit_seconds`; returns the last load seen, in cores."""
    deadline = time.monotonic() + limit_seconds
    while True:
        busy, started = machine_busy_seconds(), time.monotonic()
        time.sleep(3.0)
        load = (machine_busy_seconds() - busy) / (time.monotonic() - started)
        if load < threshold_cores or time.monotonic() >= deadline:
            return load
        print(f"bench: the machine is busy ({load:.2f} cores), waiting", flush=True)


def postgres_cpu_seconds(databases: Iterable[str] | None = None) -> dict[str, float]:
    """CPU so far of the PostgreSQL server processes on this machine (when the server is local):
    its backends do the SQL side of each request, on the same cores.

    `backends`: the client backends connected to `databases` (to any database when None);
    `server`: the processes serving no client (postmaster, WAL writer, checkpointer, background
    writer, autovacuum), which work for every user of the server; `others`: the backends of
    other clients."""
    names = set(databases) if databases is not None else None
    totals = {"backends": 0.0, "server": 0.0, "others": 0.0}
    for pid in _processes():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
                continue
            seconds = cpu_seconds(int(pid))
            title = _postgres_title(pid)
        except (OSError, ValueError):
            continue  # gone meanwhile
        if len(title) < 3 or not ("(" in title[2] or title[2] == "[local]"):
            totals["server"] += seconds
        elif names is None or title[1] in names:
            totals["backends"] += seconds
        else:
            totals["others"] += seconds
    return totals


def _postgres_title(pid: str) -> list[str]:
    """The words of a PostgreSQL process title after "postgres:" and the cluster name, e.g.
    [user, database, client address, state] for a client backend, [walwriter] for the WAL
    writer; [] for the postmaster."""
    words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
    if not words or words[0] != "postgres:":
        return []
    words = words[1:]
    return words[1:] if words and words[0].endswith(":") else words  # "15/main:" when cluster_name is set


def named_cpu_seconds(command: str) -> float:
    """CPU so far of every process with this command name (e.g. beam.smp, RabbitMQ's VM)."""
    total = 0.0
    for pid in _processes():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == command:
                total += cpu_seconds(int(pid))
        except (OSError, ValueError):
            continue
    return total


def thread_cpu_seconds(thread_id: int) -> float:
    """CPU so far of one thread of this process (its native id)."""
    return _cpu(_stat_fields(f"self/task/{thread_id}"))


def py_spy() -> str | None:
    """py-spy from PATH or the project's .venv (requirements.txt installs it)."""
    return shutil.which("py-spy") or next(
        (str(path) for path in (ROOT / ".venv" / "bin" / "py-spy",) if path.exists()), None
    )


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile, `fraction` in 0..1."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]
