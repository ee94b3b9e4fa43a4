"""scripts/walkthrough.sh, the README's journey, run as a new integrator would: bash, curl and
python3 against the whole system, with the bootstrap admin's credentials from the environment.
The README quotes the script rather than keeping its own copy: the quoted lines must be the
script's."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET

pytestmark = pytest.mark.shared_system  # see tests/e2e/conftest.py

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "walkthrough.sh"
STEPS = 15


def test_the_walkthrough_runs_end_to_end(system, api):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    environment.update({
        "SIMPUL_URL": system.gateway_url,
        "SIMPUL_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
        "SIMPUL_ADMIN_CLIENT_SECRET": ADMIN_CLIENT_SECRET,
    })
    result = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}\n{system.logs()}"
    printed = re.findall(r"^== (\d+)\. ", result.stdout, re.M)
    assert printed == [str(step) for step in range(STEPS)], result.stdout
    assert ADMIN_CLIENT_SECRET not in result.stdout

    done = re.search(r"^Done: submission (\S+) issued document (\S+), verified\.$", result.stdout, re.M)
    assert done, result.stdout
    submission_id, document_id = done.groups()
    verified = api.http.get(f"/v1/verify/{document_id}")
    assert verified.status_code == 200 and verified.json()["valid"] is True
    assert verified.json()["service_code"] == "REKOM-PINJAMAN-DAERAH"
    tracking_code = re.search(r"tracking code (\S+),", result.stdout).group(1)
    assert api.http.get(f"/v1/track/{tracking_code}").json()["status"] == "issued"
    assert submission_id in result.stdout


def test_the_walkthrough_stops_at_the_first_unexpected_answer(system):
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SIMPUL_")}
    environment.update({
        "SIMPUL_URL": system.gateway_url,
        "SIMPUL_ADMIN_CLIENT_ID": ADMIN_CLIENT_ID,
        "SIMPUL_ADMIN_CLIENT_SECRET": "not-the-admin-secret",
    })
    result = subprocess.run(["bash", str(SCRIPT)], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "FAILED: POST /v1/oauth/token answered 401, expected 200" in result.stderr
    assert "== 2." not in result.stdout


def test_the_readme_quotes_the_script():
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("# Simpul\n\n```sh\nmake run ") and "\nmake test " in readme.split("```")[1]
    section = readme.split("## A walk through", 1)[1].split("\n## ", 1)[0]
    # The block after "The steps, quoted:", not the section's last: its subsections have examples of their own.
    quoted = re.findall(r"```sh\n(.*?)```", section.split("The steps, quoted:", 1)[1], re.S)[0].splitlines()
    commands = [line.strip() for line in quoted if line.strip() and not line.startswith("#")]
    assert len(commands) >= 30
    script_lines = {line.strip() for line in SCRIPT.read_text().splitlines()}
    assert [line for line in commands if line not in script_lines] == []
