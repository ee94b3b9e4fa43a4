"""Simpul's common library: settings, database, problem+json errors, identity assertions."""

import sys

# httpx imports its command-line client (click, rich, pygments: ~4 MB per process) whenever those
# are installed, as the test and lint tools install them next to the services. No service runs
# httpx's CLI: with the module marked absent, httpx takes its own fallback for a missing CLI.
sys.modules.setdefault("httpx._main", None)
