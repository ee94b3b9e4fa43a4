"""The submission core never depends on a sub-domain: dependencies point sub-package -> core.
Only the composition roots (app.py, the Alembic env) name every part."""

from __future__ import annotations

from pathlib import Path

import simpul.submissions
from tests.unit.test_boundaries import imported_modules

PACKAGE = Path(simpul.submissions.__file__).parent
SUB_DOMAINS = [path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()]


def test_the_core_imports_no_sub_domain():
    assert "feedback" in SUB_DOMAINS
    offences = [
        f"{path.name} imports {module}"
        for path in PACKAGE.glob("*.py")
        if path.name != "app.py"
        for module in imported_modules(path)
        if any(module.startswith(f"simpul.submissions.{name}") for name in SUB_DOMAINS)
    ]
    assert offences == []


def test_a_sub_domain_imports_no_other():
    offences = [
        f"{path.relative_to(PACKAGE)} imports {module}"
        for name in SUB_DOMAINS
        for path in (PACKAGE / name).rglob("*.py")
        for module in imported_modules(path)
        for other in SUB_DOMAINS
        if other != name and module.startswith(f"simpul.submissions.{other}")
    ]
    assert offences == []
