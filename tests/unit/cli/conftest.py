from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def process_umask() -> Iterator[None]:
    """`simpul` sets the umask of its process (077); in a CliRunner that is the test process's."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)
