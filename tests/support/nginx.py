"""A real nginx in front of gateway replicas on loopback, with the configuration compose uses
(deploy/nginx/simpul.conf.template), run in the foreground with every file it writes under one
temporary directory."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from string import Template

from tests.support.processes import free_port, wait_for_answer

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "simpul.conf.template"
# A gateway that refused a connection is left out for this long, then tried again.
FAIL_TIMEOUT_SECONDS = 2


def nginx_binary() -> str | None:
    # Debian installs it in /usr/sbin, which a user's PATH may lack.
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


class Nginx:
    def __init__(self, directory: Path, gateway_urls: list[str]) -> None:
        self.directory = directory
        self.gateway_urls = gateway_urls
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n    ".join(
            f"server {url.removeprefix('http://')} max_fails=1 fail_timeout={FAIL_TIMEOUT_SECONDS}s;"
            for url in self.gateway_urls
        )
        site = Template(TEMPLATE.read_text()).safe_substitute(
            SIMPUL_NGINX_PORT=f"127.0.0.1:{self.port}",
            SIMPUL_GATEWAY_SERVERS=servers,
            SIMPUL_NGINX_ACCESS_LOG=str(self.directory / "access.log"),
        )
        (self.directory / "simpul.conf").write_text(site)
        temp = {name: self.directory / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(exist_ok=True)
        # As root, the workers would switch to an unprivileged user that cannot write here.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}daemon off;\nworker_processes 1;\npid {self.directory / 'nginx.pid'};\n"
            f"error_log {self.directory / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            f"    client_body_temp_path {temp['client_body']};\n    proxy_temp_path {temp['proxy']};\n"
            f"    fastcgi_temp_path {temp['fastcgi']};\n    uwsgi_temp_path {temp['uwsgi']};\n"
            f"    scgi_temp_path {temp['scgi']};\n"
            f"    include {self.directory / 'simpul.conf'};\n"
            "}\n"
        )

    def checked_command(self) -> list[str]:
        """Writes the configuration, has `nginx -t` check it, and returns the command that runs it."""
        binary = nginx_binary()
        assert binary, "nginx is not installed (apt-get install nginx-light)"
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "nginx.conf"
        config.write_text(self.config())
        command = [binary, "-p", str(self.directory), "-e", str(self.directory / "error.log"), "-c", str(config)]
        checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        return command

    def start(self, timeout: float = 10.0) -> Nginx:
        command = self.checked_command()
        log = open(self.directory / "nginx.out", "ab")  # noqa: SIM115 - the child keeps writing
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        # Any answer will do: a gateway may not be ready yet.
        wait_for_answer(self.process, f"{self.url}/healthz", "nginx", self.log_tail, timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGQUIT: nginx's graceful stop (the requests under way finish)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        path = self.directory / "error.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def upstreams_used(self) -> dict[str, int]:
        """Gateway address -> requests nginx passed to it, from its access log."""
        counts: dict[str, int] = {}
        for tried in re.findall(r'upstream="([^"]*)"', (self.directory / "access.log").read_text()):
            for address in tried.split(","):
                counts[address.strip()] = counts.get(address.strip(), 0) + 1
        return counts
