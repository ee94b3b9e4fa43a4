"""Schemathesis over every operation of an OpenAPI document, in a loop of our own rather than
`schema.parametrize()`, which under pytest-xdist (`make test`) ran only the first operation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error


@dataclass
class Fuzzed:
    operations: int = 0
    calls: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz_for_server_errors(schema, base_url: str, identities: Sequence[Callable[[], dict[str, str]]], *,
                           examples: int, timeout: float,
                           skipped: frozenset[tuple[str, str]] = frozenset()) -> Fuzzed:
    """Generated input for each operation not in `skipped` (method, path), sent once as each
    identity: its headers asked for every call, so a short-lived token does not expire midway. A
    server error is recorded with the smallest failing example hypothesis finds."""
    fuzzed = Fuzzed()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in skipped:
            continue
        fuzzed.operations += 1

        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def exercise(case):
            for identity in identities:
                headers = identity()
                fuzzed.calls += 1
                response = case.call(base_url=base_url, headers=headers, timeout=timeout)
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except AssertionError as exc:
                    fuzzed.failures.append(f"{case.as_curl_command(headers=headers)}\n  -> {response.status_code}: {exc}")
                    raise

        try:
            exercise()
        except AssertionError:
            pass  # recorded above
    return fuzzed
