"""Service boundaries are law: no service imports another, shared/ imports none of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_FOLDERS = {
    "gateway": "gateway",
    "catalog": "service-catalog",
    "submissions": "submissions",
    "signatures": "signatures",
    "notifications": "notifications",
}


def test_import_linter_contracts_hold():
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(linter), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_no_source_file_names_another_service():
    """A second, plain look at the source (import-linter sees only importable modules):
    migrations and scripts count too."""
    offences = []
    for service, folder in SERVICE_FOLDERS.items():
        others = [name for name in SERVICE_FOLDERS if name != service]
        for path in (ROOT / folder).rglob("*.py"):
            for module in imported_modules(path):
                if any(module == f"simpul.{other}" or module.startswith(f"simpul.{other}.") for other in others):
                    offences.append(f"{path.relative_to(ROOT)} imports {module}")
    # The shared library and the operators' CLI know no service.
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "cli").rglob("*.py")]:
        for module in imported_modules(path):
            if any(module.startswith(f"simpul.{name}") for name in SERVICE_FOLDERS):
                offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []


def test_no_service_opens_another_services_database():
    offences = []
    for service, folder in SERVICE_FOLDERS.items():
        for other in SERVICE_FOLDERS:
            if other == service:
                continue
            variable = f"SIMPUL_{other.upper()}_DATABASE_URL"
            for path in (ROOT / folder).rglob("*.py"):
                if variable in path.read_text():
                    offences.append(f"{path.relative_to(ROOT)} names {variable}")
    assert offences == []
