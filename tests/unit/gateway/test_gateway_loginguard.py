"""The token endpoint's failure limit: thresholds per scope, exponential backoff, what a success
clears and what it doesn't, and an attacker's lock that spares the client's own addresses."""

from __future__ import annotations

from dataclasses import replace

import pytest

from simpul.gateway.loginguard import ADDRESS, CLIENT, PAIR, FailurePolicy, LocalFailureLimiter

POLICY = FailurePolicy(window_seconds=60, per_pair=3, per_address=5, per_client=8, base_seconds=10,
                       max_seconds=45, known_seconds=3600)


def fail(limiter: LocalFailureLimiter, times: int, client_id: str, address: str, now: float) -> list:
    started = []
    for _ in range(times):
        started += limiter.failed(client_id, address, now)
    return started


def test_the_threshold_locks_the_pair_for_the_base_time_and_the_lock_runs_out():
    limiter = LocalFailureLimiter(POLICY)
    assert fail(limiter, 2, "c1", "10.0.0.1", 0) == []
    assert limiter.check("c1", "10.0.0.1", 0) is None
    [lock] = fail(limiter, 1, "c1", "10.0.0.1", 1)
    assert (lock.scope, lock.retry_after, lock.level) == (PAIR, 10, 1)
    refused = limiter.check("c1", "10.0.0.1", 4.5)
    assert (refused.scope, refused.retry_after) == (PAIR, 7)  # 6.5 s left, rounded up
    # Another address, and another client from this address, are not affected.
    assert limiter.check("c1", "10.0.0.2", 4.5) is None
    assert limiter.check("c2", "10.0.0.1", 4.5) is None
    assert limiter.check("c1", "10.0.0.1", 11) is None


def test_each_lock_in_a_row_doubles_up_to_the_cap_and_is_forgotten_after_a_quiet_spell():
    limiter = LocalFailureLimiter(replace(POLICY, per_address=1000, per_client=1000))
    now, seconds = 0.0, []
    for _ in range(4):
        [lock] = fail(limiter, 3, "c1", "10.0.0.1", now)
        seconds.append(lock.retry_after)
        now += lock.retry_after
    assert seconds == [10, 20, 40, 45]
    # Quiet for longer than the cap plus the window: back to the base.
    now += POLICY.level_memory_seconds + 1
    [lock] = fail(limiter, 3, "c1", "10.0.0.1", now)
    assert (lock.retry_after, lock.level) == (10, 1)


def test_failures_outside_the_window_do_not_add_up():
    limiter = LocalFailureLimiter(POLICY)
    fail(limiter, 2, "c1", "10.0.0.1", 0)
    assert fail(limiter, 2, "c1", "10.0.0.1", 61) == []
    assert limiter.check("c1", "10.0.0.1", 61) is None


def test_a_success_clears_its_own_pair_only():
    limiter = LocalFailureLimiter(POLICY)
    fail(limiter, 2, "c1", "10.0.0.1", 0)
    fail(limiter, 2, "c1", "10.0.0.2", 0)
    limiter.succeeded("c1", "10.0.0.1", 1)
    assert fail(limiter, 2, "c1", "10.0.0.1", 2) == []  # counted from zero again
    [lock] = fail(limiter, 1, "c1", "10.0.0.2", 2)  # the other address's count stayed
    assert lock.scope == PAIR


def test_an_address_probing_many_client_ids_is_locked_for_all_of_them():
    limiter = LocalFailureLimiter(POLICY)
    started = [lock for index in range(5) for lock in limiter.failed(f"probe-{index}", "10.0.0.9", 0)]
    assert [lock.scope for lock in started] == [ADDRESS]
    assert limiter.check("c1", "10.0.0.9", 1).scope == ADDRESS
    # A success of some other client at that address does not clear the address's lock.
    limiter.succeeded("mine", "10.0.0.9", 1)
    assert limiter.check("mine", "10.0.0.9", 1).scope == ADDRESS


def test_the_client_ceiling_stops_new_addresses_but_spares_those_that_hold_the_secret():
    limiter = LocalFailureLimiter(POLICY)
    limiter.succeeded("c1", "192.0.2.10", 0)  # the client's own machine
    started = [lock for index in range(8) for lock in limiter.failed("c1", f"198.51.100.{index}", 1)]
    assert [lock.scope for lock in started] == [CLIENT]
    assert limiter.check("c1", "203.0.113.7", 2).scope == CLIENT
    assert limiter.check("c1", "192.0.2.10", 2) is None
    assert limiter.check("c2", "203.0.113.7", 2) is None


def test_the_longest_lock_answers_and_pruning_forgets_only_what_ran_out():
    limiter = LocalFailureLimiter(POLICY)
    fail(limiter, 3, "c1", "10.0.0.1", 0)  # pair: 10 s
    fail(limiter, 3, "c1", "10.0.0.1", 10)  # pair again: 20 s, and the address reaches 5 → 10 s
    lock = limiter.check("c1", "10.0.0.1", 10)
    assert (lock.scope, lock.retry_after) == (PAIR, 20)
    fail(limiter, 1, "other", "10.0.0.5", 0)
    limiter.prune(10)
    assert len(limiter) > 0
    limiter.prune(10 + POLICY.level_memory_seconds + 60)
    assert len(limiter) == 0


@pytest.mark.parametrize("level, seconds", [(1, 10), (2, 20), (3, 40), (4, 45), (80, 45)])
def test_lock_lengths(level, seconds):
    assert POLICY.lock_seconds(level) == seconds
