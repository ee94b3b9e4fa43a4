"""The bill's state machine and billing codes, without a database: hypothesis plays any
interleaving of provider notifications, treasurer confirmations (right and wrong amounts, early
and late), voids, expiry and cancellation, and checks what must always hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simpul.submissions.payments.bills import (
    Bill,
    BillStatus,
    NotVoidable,
    Outcome,
    blocks,
    cancel,
    expire,
    receive,
    void,
)
from simpul.submissions.payments.codes import CODE_LENGTH, luhn_digit, new_bill_code, normalise_bill_code

START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
EXPIRES = START + timedelta(days=7)
AMOUNT = 150_000

offsets = st.integers(min_value=0, max_value=10 * 24 * 60).map(lambda minutes: START + timedelta(minutes=minutes))
steps = st.one_of(
    st.tuples(st.just("pay"), st.sampled_from([AMOUNT, AMOUNT - 1, AMOUNT + 1000, 1]), offsets),
    st.tuples(st.just("expire"), offsets),
    st.tuples(st.just("cancel")),
    st.tuples(st.just("void"), st.integers(min_value=0, max_value=20)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, max_size=25))
def test_never_paid_twice_never_with_a_wrong_amount(plays):
    bill = Bill(BillStatus.UNPAID, AMOUNT, EXPIRES)
    received: dict[str, tuple[int, Outcome]] = {}
    standing: set[str] = set()  # payments that paid and were not voided
    for number, play in enumerate(plays):
        before = bill
        if play[0] == "pay":
            _, amount, at = play
            payment = f"p{number}"
            outcome, bill = receive(bill, payment, amount, at)
            received[payment] = (amount, outcome)
            if outcome is Outcome.PAID:
                assert before.status is BillStatus.UNPAID and amount == AMOUNT and at <= EXPIRES
                standing.add(payment)
            elif outcome is Outcome.MISMATCH:
                assert amount != AMOUNT and bill == before
            else:
                assert before.status is not BillStatus.UNPAID or at > EXPIRES
        elif play[0] == "expire":
            bill = expire(bill, play[1])
        elif play[0] == "cancel":
            bill = cancel(bill)
            assert bill.status is not BillStatus.UNPAID
        else:
            payment = f"p{play[1]}"
            try:
                bill = void(bill, payment)
            except NotVoidable:
                assert bill == before
            else:
                standing.discard(payment)
        # What must always hold.
        assert len(standing) <= 1
        if bill.status is BillStatus.PAID:
            assert standing == {bill.paid_by}
            assert received[bill.paid_by] == (AMOUNT, Outcome.PAID)
            # The kuitansi is made from the bill: it can only state the bill's amount, the fee.
            assert bill.amount == AMOUNT
        else:
            assert bill.paid_by is None and not standing
        # Ended states stay ended (a void reopens only a paid bill).
        if before.status in (BillStatus.EXPIRED, BillStatus.CANCELLED):
            assert bill.status is before.status


def test_a_payment_after_the_expiry_expires_the_bill_and_is_owed_back():
    bill = Bill(BillStatus.UNPAID, AMOUNT, EXPIRES)
    outcome, after = receive(bill, "p", AMOUNT, EXPIRES + timedelta(seconds=1))
    assert outcome is Outcome.REFUND_DUE and after.status is BillStatus.EXPIRED


def test_only_the_paying_payment_is_voided():
    _, paid = receive(Bill(BillStatus.UNPAID, AMOUNT, EXPIRES), "p", AMOUNT, START)
    with pytest.raises(NotVoidable):
        void(paid, "other")
    assert void(paid, "p") == Bill(BillStatus.UNPAID, AMOUNT, EXPIRES)


@pytest.mark.parametrize(("stage", "status", "action", "held"), [
    ("before_review", "unpaid", "start_review", True),
    ("before_review", "expired", "start_review", True),
    ("before_review", "paid", "start_review", False),
    ("before_review", "unpaid", "approve", False),
    ("before_issue", "unpaid", "start_review", False),
    ("before_issue", "unpaid", "approve", True),
    ("before_issue", "paid", "approve", False),
])
def test_what_an_unpaid_bill_holds_back(stage, status, action, held):
    assert blocks(stage, status, action) is held


def test_codes_are_15_digits_with_a_luhn_check_digit_and_not_in_sequence():
    codes = [new_bill_code() for _ in range(500)]
    assert len(set(codes)) == 500
    for code in codes:
        assert len(code) == CODE_LENGTH and code.isdigit() and code[0] != "0"
        assert normalise_bill_code(code) == code
    # Known Luhn value (the textbook example 7992739871 -> 3).
    assert luhn_digit("7992739871") == "3"


@given(st.sampled_from([new_bill_code() for _ in range(20)]), st.integers(min_value=0, max_value=14),
       st.integers(min_value=1, max_value=9))
def test_a_mistyped_digit_is_caught_by_the_check_digit(code, position, change):
    typo = code[:position] + str((int(code[position]) + change) % 10) + code[position + 1:]
    assert normalise_bill_code(typo) is None


@pytest.mark.parametrize("raw", ["", "12345", "1" * 16, "１" * 15, "12345678901234x"])
def test_malformed_codes_are_refused(raw):
    assert normalise_bill_code(raw) is None


def test_codes_as_people_write_them():
    code = new_bill_code()
    assert normalise_bill_code(f"{code[:5]}-{code[5:10]} {code[10:]}") == code
