"""How much the Simpul gateway costs on the proxy hop, next to nginx, in one run.

    .venv/bin/python bench/gateway.py [--duration 10] [--rounds 3] [--connections 64]

Starts the catalogue and the gateway as real processes (`python -m simpul.catalog`,
`python -m simpul.gateway`) on free loopback ports with a temporary data dir and the demo
catalogue, and nginx (`proxy_pass` with an upstream keepalive pool, one worker) in front of
the same catalogue. Then wrk (one thread, C, so the two cores stay with the servers) drives
`GET /v1/services/{code}` for a demo service on three paths:

    direct   wrk -> catalogue
    gateway  wrk -> Simpul gateway -> catalogue
    nginx    wrk -> nginx -> catalogue

The catalogue accepts only callers with an identity assertion: the gateway makes its own;
the direct and nginx paths send `X-Simpul-Assertion` with a service token minted from the
internal secret given to both processes (a fresh one per run: they live 60 s).

Each path is warmed up, then measured in interleaved rounds (the order rotates each round);
the table shows the median per path, and the ratios gateway/nginx for throughput (target
>= 0.8) and p99 latency (target <= 1.5). CPU seconds per request of each server process, and
the CPU other processes on the machine used meanwhile, are read from /proc during the runs.
Results also go to bench/out/gateway-<time>.json.
Installs nginx and wrk from Debian's packages when missing (needs root). Everything started
here is stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from measuring import OUT, ROOT, group_cpu_seconds, machine_busy_seconds, py_spy, wait_for_quiet_machine

PATH_TEMPLATE = "/v1/services/{code}"
TARGETS = ("direct", "gateway", "nginx")
THROUGHPUT_TARGET = 0.8
P99_TARGET = 1.5


# --- tools -----------------------------------------------------------------------------


def ensure_tools() -> None:
    """nginx and wrk from Debian's packages when they are missing."""
    missing = [tool for tool in ("nginx", "wrk") if not find_tool(tool)]
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(f"bench: {', '.join(missing)} missing; install them (apt-get install nginx-light wrk)")
    packages = ["wrk" if tool == "wrk" else "nginx-light" for tool in missing]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"bench: installing {' '.join(packages)} from Debian's packages", flush=True)
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            # nginx-light is gone from newer Debian releases; plain nginx has the proxy module too.
            install = [name if name != "nginx-light" else "nginx" for name in install]
            subprocess.run(install, env=env, stdout=subprocess.DEVNULL, check=True)
    # Debian's package may start a system nginx on port 80; this bench runs its own.
    still = [tool for tool in ("nginx", "wrk") if not find_tool(tool)]
    if still:
        sys.exit(f"bench: {', '.join(still)} still missing after apt-get")


def find_tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(path) for path in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if path.exists()), None
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- processes -------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            # Its own session: Ctrl-C reaches this script only, which then stops the group.
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def cpu_seconds(self) -> float:
        """CPU of every process in this server's process group (nginx: master and worker;
        uvicorn: one process)."""
        if self.process is None:
            return 0.0
        return group_cpu_seconds([self.process.pid])[self.process.pid]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_healthy(server: Server, url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check_alive()
        try:
            if http_get(url, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer {url} within {timeout} s:\n{server.log_tail()}")


def nginx_config(directory: Path, listen_port: int, upstream_port: int, connections: int) -> Path:
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / sub).mkdir(exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    config = directory / "nginx.conf"
    config.write_text(f"""
{user}
worker_processes 1;
daemon off;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    upstream catalog {{
        server 127.0.0.1:{upstream_port};
        keepalive {connections};
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{listen_port};
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://catalog;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffers 16 16k;
        }}
    }}
}}
""")
    return config


# --- wrk -------------------------------------------------------------------------------


@dataclass
class Run:
    target: str
    round: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    # CPU the rest of the machine used meanwhile, in cores (0.5 = half a core): other people's
    # processes compete with the servers, so a run with much of it is not comparable.
    other_load_cores: float = 0.0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parse_wrk(output: str) -> dict[str, float]:
    def number(pattern: str, default: float | None = None) -> float:
        match = re.search(pattern, output, re.M)
        if match is None:
            if default is None:
                raise RuntimeError(f"unexpected wrk output:\n{output}")
            return default
        return float(match.group(1))

    percentile = {
        key: _milliseconds(value)
        for key, value in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M)
    }
    if "50" not in percentile or "99" not in percentile:
        raise RuntimeError(f"wrk printed no latency distribution:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_second": number(r"^Requests/sec:\s+([\d.]+)"),
        "requests": number(r"^\s+(\d+) requests in"),
        "non_2xx": number(r"Non-2xx or 3xx responses:\s+(\d+)", 0.0),
        "socket_errors": float(sum(int(value) for value in errors.groups())) if errors else 0.0,
        "p50_ms": percentile["50"],
        "p99_ms": percentile["99"],
    }


def run_wrk(wrk: str, url: str, headers: dict[str, str], duration: float, connections: int, threads: int) -> dict[str, float]:
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run(command + [url], capture_output=True, text=True, timeout=duration + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return parse_wrk(result.stdout)


# --- the bench -------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
        self.tmp = Path(tempfile.mkdtemp(prefix="simpul-bench-"))
        self.secret = secrets.token_urlsafe(32)
        self.ports = {name: free_port() for name in ("catalog", "gateway", "nginx")}
        self.servers: list[Server] = []
        self.code = args.code

    def service_env(self, name: str) -> dict[str, str]:
        closed = free_port()  # nothing listens there: the services this bench doesn't start
        data_dir = self.tmp / name
        data_dir.mkdir()
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")
        }
        env.update({
            "SIMPUL_HOST": "127.0.0.1",
            "SIMPUL_DATA_DIR": str(data_dir),
            "SIMPUL_LOG_LEVEL": "warning",
            "SIMPUL_DEMO": "1",
            "SIMPUL_INTERNAL_SECRET": self.secret,
            "SIMPUL_RATE_LIMIT_PER_MINUTE": str(10**9),
            "SIMPUL_GATEWAY_PORT": str(self.ports["gateway"]),
            "SIMPUL_CATALOG_PORT": str(self.ports["catalog"]),
            "SIMPUL_GATEWAY_URL": f"http://127.0.0.1:{self.ports['gateway']}",
            "SIMPUL_PUBLIC_URL": f"http://127.0.0.1:{self.ports['gateway']}",
            "SIMPUL_CATALOG_URL": f"http://127.0.0.1:{self.ports['catalog']}",
            "SIMPUL_SUBMISSIONS_URL": f"http://127.0.0.1:{closed}",
            "SIMPUL_SIGNATURES_URL": f"http://127.0.0.1:{closed}",
            "SIMPUL_NOTIFICATIONS_URL": f"http://127.0.0.1:{closed}",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def url(self, target: str) -> str:
        port = self.ports["catalog" if target == "direct" else target]
        return f"http://127.0.0.1:{port}{PATH_TEMPLATE.format(code=self.code)}"

    def headers(self, target: str) -> dict[str, str]:
        if target == "gateway":
            return {}
        from simpul.shared.identity import mint_service_token

        return {"X-Simpul-Assertion": mint_service_token(self.secret, "bench", "catalog")}

    def path_servers(self, target: str) -> list[Server]:
        names = {"direct": ["catalog"], "gateway": ["gateway", "catalog"], "nginx": ["nginx", "catalog"]}[target]
        return [server for name in names for server in self.servers if server.name == name]

    def start(self) -> None:
        catalog = Server("catalog", [self.python, "-m", "simpul.catalog"], self.service_env("catalog"), self.tmp / "catalog.log")
        gateway = Server("gateway", [self.python, "-m", "simpul.gateway"], self.service_env("gateway"), self.tmp / "gateway.log")
        config = nginx_config(self.tmp, self.ports["nginx"], self.ports["catalog"], self.args.connections)
        nginx = Server("nginx", [find_tool("nginx"), "-p", str(self.tmp), "-e", str(self.tmp / "nginx-error.log"), "-c", str(config)],
                       dict(os.environ), self.tmp / "nginx.log")
        self.servers = [catalog, gateway, nginx]
        catalog.start()
        wait_healthy(catalog, f"http://127.0.0.1:{self.ports['catalog']}/healthz")
        gateway.start()
        nginx.start()
        wait_healthy(gateway, f"http://127.0.0.1:{self.ports['gateway']}/healthz")
        deadline = time.monotonic() + 10
        while True:
            nginx.check_alive()
            try:
                socket.create_connection(("127.0.0.1", self.ports["nginx"]), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx does not listen:\n{nginx.log_tail()}") from None
                time.sleep(0.1)

    def pick_code(self) -> None:
        if self.code:
            return
        status, body = http_get(f"http://127.0.0.1:{self.ports['gateway']}/v1/services?limit=5")
        if status != 200:
            raise RuntimeError(f"GET /v1/services through the gateway: {status} {body[:500]!r}")
        items = json.loads(body).get("items") or []
        if not items:
            raise RuntimeError("the demo catalogue is empty (SIMPUL_DEMO=1 loaded nothing?)")
        self.code = items[0]["code"]

    def check_paths(self) -> None:
        """Every path answers 200 with the same document before anything is measured."""
        bodies = {}
        for target in TARGETS:
            status, body = http_get(self.url(target), self.headers(target))
            if status != 200:
                raise RuntimeError(f"{target}: GET {PATH_TEMPLATE.format(code=self.code)} answered {status}: {body[:500]!r}")
            bodies[target] = json.loads(body)
        if not (bodies["direct"] == bodies["gateway"] == bodies["nginx"]):
            print("bench: note: the three paths return different documents", file=sys.stderr)
        self.response_bytes = len(json.dumps(bodies["direct"]).encode())

    def measure(self, target: str, duration: float, round_number: int) -> Run:
        wrk = find_tool("wrk")
        servers = self.path_servers(target)
        everyone = {server.name: server.cpu_seconds() for server in self.servers}
        machine, load_generator, started = machine_busy_seconds(), children_cpu_seconds(), time.monotonic()
        figures = run_wrk(wrk, self.url(target), self.headers(target), duration, self.args.connections, self.args.threads)
        elapsed = time.monotonic() - started
        load_generator = children_cpu_seconds() - load_generator
        own = load_generator
        for server in self.servers:
            server.check_alive()
            own += server.cpu_seconds() - everyone[server.name]
        other_load = max(0.0, machine_busy_seconds() - machine - own) / elapsed
        requests = max(figures["requests"], 1.0)
        cpu = {
            server.name: round((server.cpu_seconds() - everyone[server.name]) * 1000 / requests, 4) for server in servers
        }
        cpu["wrk"] = round(load_generator * 1000 / requests, 4)
        return Run(
            target=target,
            round=round_number,
            requests_per_second=figures["requests_per_second"],
            p50_ms=figures["p50_ms"],
            p99_ms=figures["p99_ms"],
            requests=int(figures["requests"]),
            non_2xx=int(figures["non_2xx"]),
            socket_errors=int(figures["socket_errors"]),
            cpu_ms_per_request=cpu,
            other_load_cores=round(other_load, 2),
        )

    def run(self) -> list[Run]:
        args = self.args
        print(f"bench: catalogue :{self.ports['catalog']}, gateway :{self.ports['gateway']}, nginx :{self.ports['nginx']}; "
              f"wrk -t{args.threads} -c{args.connections}, {args.rounds} rounds of {args.duration:g} s per path", flush=True)
        for target in TARGETS:
            self.measure(target, args.warmup, 0)
        runs: list[Run] = []
        for round_number in range(1, args.rounds + 1):
            shift = (round_number - 1) % len(TARGETS)
            order = TARGETS[shift:] + TARGETS[:shift]
            for target in order:
                run = self.measure(target, args.duration, round_number)
                runs.append(run)
                flag = f"  ({run.non_2xx} non-2xx, {run.socket_errors} socket errors)" if run.non_2xx or run.socket_errors else ""
                print(f"  round {round_number} {target:8} {run.requests_per_second:9.0f} req/s  "
                      f"p50 {run.p50_ms:7.2f} ms  p99 {run.p99_ms:7.2f} ms  "
                      f"other load {run.other_load_cores:.2f} cores{flag}", flush=True)
        return runs

    def profile(self, duration: float) -> list[Path]:
        """One more gateway-path run, after the measured ones, with py-spy sampling the gateway
        and the catalogue: collapsed stacks in bench/out/ (flamegraph.pl or speedscope read them)."""
        tool = py_spy()
        if tool is None:
            raise RuntimeError("--profile needs py-spy (pip install py-spy)")
        OUT.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        recorders, outputs = [], []
        for server in self.path_servers("gateway"):
            output = OUT / f"profile-{stamp}-{server.name}.txt"
            outputs.append(output)
            recorders.append(subprocess.Popen(
                [tool, "record", "--pid", str(server.process.pid), "--duration", f"{duration:g}",
                 "--rate", "250", "--format", "raw", "--output", str(output), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        try:
            time.sleep(0.5)
            run = self.measure("gateway", duration, -1)
            print(f"  profiled gateway run {run.requests_per_second:9.0f} req/s  p99 {run.p99_ms:7.2f} ms", flush=True)
            for recorder in recorders:
                recorder.wait(duration + 30)
        finally:
            for recorder in recorders:
                if recorder.poll() is None:
                    recorder.kill()
                    recorder.wait()
        return [output for output in outputs if output.exists()]

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def summarise(runs: list[Run], code: str, args: argparse.Namespace) -> dict:
    summary = {}
    for target in TARGETS:
        mine = [run for run in runs if run.target == target]
        cpu_names = mine[0].cpu_ms_per_request.keys()
        summary[target] = {
            "requests_per_second": statistics.median(run.requests_per_second for run in mine),
            "p50_ms": statistics.median(run.p50_ms for run in mine),
            "p99_ms": statistics.median(run.p99_ms for run in mine),
            "non_2xx": sum(run.non_2xx for run in mine),
            "socket_errors": sum(run.socket_errors for run in mine),
            "cpu_ms_per_request": {name: statistics.median(run.cpu_ms_per_request[name] for run in mine) for name in cpu_names},
            "other_load_cores": statistics.median(run.other_load_cores for run in mine),
        }
    gateway, nginx = summary["gateway"], summary["nginx"]
    ratios = {
        "throughput_gateway_over_nginx": gateway["requests_per_second"] / nginx["requests_per_second"],
        "p99_gateway_over_nginx": gateway["p99_ms"] / nginx["p99_ms"],
    }
    return {
        "path": PATH_TEMPLATE.format(code=code),
        "settings": {"duration_s": args.duration, "rounds": args.rounds, "connections": args.connections,
                     "threads": args.threads, "cpus": os.cpu_count()},
        "median": summary,
        "ratios": ratios,
        "targets_met": {
            "throughput": ratios["throughput_gateway_over_nginx"] >= THROUGHPUT_TARGET,
            "p99": ratios["p99_gateway_over_nginx"] <= P99_TARGET,
        },
        "runs": [asdict(run) for run in runs],
    }


def print_table(result: dict) -> None:
    print()
    print(f"GET {result['path']}  (median of {result['settings']['rounds']} rounds, "
          f"{result['settings']['duration_s']:g} s each, {result['settings']['connections']} connections)")
    print(f"{'path':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'other load':>10}  CPU ms per request")
    for target in TARGETS:
        row = result["median"][target]
        cpu = ", ".join(f"{name} {value:.3f}" for name, value in row["cpu_ms_per_request"].items())
        bad = f"  !! {row['non_2xx']} non-2xx, {row['socket_errors']} socket errors" if row["non_2xx"] or row["socket_errors"] else ""
        print(f"{target:<9} {row['requests_per_second']:>9.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
              f"{row['other_load_cores']:>10.2f}  {cpu}{bad}")
    ratios, met = result["ratios"], result["targets_met"]
    print()
    print(f"gateway/nginx throughput {ratios['throughput_gateway_over_nginx']:.2f}  "
          f"(target >= {THROUGHPUT_TARGET}: {'met' if met['throughput'] else 'MISSED'})")
    print(f"gateway/nginx p99        {ratios['p99_gateway_over_nginx']:.2f}  "
          f"(target <= {P99_TARGET}: {'met' if met['p99'] else 'MISSED'})")
    busiest = max(run["other_load_cores"] for run in result["runs"])
    if busiest > 0.2:
        print(f"note: other processes used up to {busiest:.2f} of the {os.cpu_count()} cores during the runs; "
              "the figures are noisy, run again on a quiet machine")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per path (default 3)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per path (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--code", help="service code to fetch (default: the first demo service)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary dir (logs, nginx.conf)")
    parser.add_argument("--profile", action="store_true",
                        help="after the measured rounds, one more gateway run under py-spy (gateway and catalogue)")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to this long for other processes to leave the CPUs idle")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds >= 1 and --duration > 0")
    ensure_tools()

    # SIGTERM / SIGHUP end the run like Ctrl-C does: through the finally below.
    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    if args.wait_quiet > 0:
        load = wait_for_quiet_machine(args.wait_quiet)
        print(f"bench: machine load before the run {load:.2f} cores", flush=True)
    bench = Bench(args)
    try:
        bench.start()
        bench.pick_code()
        bench.check_paths()
        runs = bench.run()
        profiles = bench.profile(args.duration) if args.profile else []
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"bench: {error}", file=sys.stderr)
        if args.keep:
            print(f"bench: logs in {bench.tmp}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        bench.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    result = summarise(runs, bench.code, args)
    print_table(result)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"gateway-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nfull figures: {out.relative_to(ROOT)}")
    for profile in profiles:
        print(f"profile: {profile.relative_to(ROOT)}")
    if any(run["non_2xx"] or run["socket_errors"] for run in result["runs"]):
        print("bench: some requests failed; the figures are not comparable", file=sys.stderr)
        return 1
    if args.strict and not all(result["targets_met"].values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
