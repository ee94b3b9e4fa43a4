"""Schemathesis drives every operation of the gateway's merged OpenAPI document against the five
real processes, as an applicant, an officer, an admin and anonymously: generated input never
gets a server error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import schemathesis

from tests.e2e.conftest import start_system
from tests.support.api import PublicApi
from tests.support.fuzz import fuzz_for_server_errors
from tests.support.processes import ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, System

pytestmark = pytest.mark.e2e
EXAMPLES = 15
# Revoking clients at random would only revoke the fuzzer's own identities.
SKIPPED = frozenset({("DELETE", "/v1/admin/clients/{client_id}")})


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> Iterator[System]:
    # Generated traffic far beyond a client's fair share: the rate limit is not what is tested here.
    running, databases = start_system(
        tmp_path_factory.mktemp("fuzz"),
        extra_env={"SIMPUL_RATE_LIMIT_PER_MINUTE": "1000000", "SIMPUL_RATE_LIMIT_BURST": "1000000"},
    )
    yield running
    running.stop()
    asyncio.run(databases.drop_all())


def test_no_operation_answers_with_a_server_error(fuzzed):
    api = PublicApi(fuzzed.gateway_url)
    admin = api.as_client(ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET)
    callers = [admin] + [api.client_for(admin, role, tenant) for role, tenant in (("applicant", "31"),
                                                                                   ("officer", "KDN-BH"))]
    identities = [lambda client=client: {"Authorization": client.headers["authorization"]} for client in callers]
    identities.append(dict)  # anonymous: no headers
    schema = schemathesis.openapi.from_url(f"{fuzzed.gateway_url}/openapi.json")
    outcome = fuzz_for_server_errors(schema, fuzzed.gateway_url, identities, examples=EXAMPLES, timeout=30,
                                     skipped=SKIPPED)
    for client in callers:
        client.close()
    api.close()
    assert outcome.operations > 40 and outcome.calls >= outcome.operations * len(identities)
    assert not outcome.failures, "\n".join(outcome.failures)
