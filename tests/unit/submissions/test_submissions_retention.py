"""When a closed submission's personal data is due, what replaces it, and who is recorded reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simpul.shared.datasubject import subject_email
from simpul.shared.identity import Identity, Official
from simpul.shared.personal_data import email_of, read_rows, recorded
from simpul.shared.problems import Problem
from simpul.submissions.privacy.erasure import ERASED_EVENT
from simpul.submissions.privacy.retention import (
    CLOSED_STATES,
    erase_after,
    is_closed,
    new_pseudonym,
    pseudonymised_applicant,
    retention_days,
)
from simpul.submissions.statemachine import Status

CLOSED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_only_the_states_nothing_follows_are_closed():
    assert set(CLOSED_STATES) == {"issued", "rejected", "cancelled"}
    assert [s.value for s in Status if is_closed(s.value)] == sorted(CLOSED_STATES, key=[s.value for s in Status].index)
    assert not is_closed("approved")  # the document is yet to be issued


def test_the_standards_period_wins_over_the_default_even_when_zero():
    assert retention_days({"personal_data_retention_days": 10}, 1825) == 10
    assert retention_days({"personal_data_retention_days": 0}, 1825) == 0
    assert retention_days({}, 1825) == 1825  # a submission made before the field existed
    assert retention_days({"personal_data_retention_days": None}, 30) == 30
    assert erase_after(CLOSED_AT, {"personal_data_retention_days": 2}, 1825) == CLOSED_AT + timedelta(days=2)


def test_the_pseudonym_replaces_every_identifying_field_and_is_random():
    applicant = {"name": "Siti Rahayu", "email": "siti@example.go.id", "phone": "+62 711 123456",
                 "agency": "Dinas PMPTSP", "language": "en"}
    pseudonym = new_pseudonym()
    replaced = pseudonymised_applicant(applicant, pseudonym)
    assert replaced == {"name": pseudonym, "email": f"{pseudonym}@erased.invalid", "phone": None, "agency": None,
                        "language": "en"}
    assert not set(applicant.values()) - {"en"} & set(replaced.values())
    assert new_pseudonym() != pseudonym
    assert pseudonymised_applicant(None, pseudonym)["language"] == "id"
    assert ERASED_EVENT == "submission.personal_data_erased"


def test_only_officers_and_admins_reads_are_recorded_with_the_official():
    official = Official(id="1", nip="198001012005011001", name="Budi", position="Kepala", roles=("signer",))
    officer = Identity(subject="c1", role="officer", tenant="KDN-BH", official=official)
    assert recorded(officer) and recorded(Identity(subject="a", role="admin"))
    assert not recorded(Identity(subject="p", role="applicant", tenant="31"))
    assert not recorded(Identity(subject="service:gateway", role="service"))
    (row,) = read_rows(officer, "submission", [{"subject_email": "x@example.go.id", "submission_id": "s1"}], CLOSED_AT)
    assert row["official"] == {"nip": official.nip, "name": "Budi", "position": "Kepala"}
    assert (row["reader"], row["reader_role"], row["reader_tenant"]) == ("c1", "officer", "KDN-BH")
    assert email_of({"email": "Siti@Example.GO.ID"}) == "siti@example.go.id" and email_of(None) is None


@pytest.mark.parametrize("raw", ["not-an-email", "a@", "@b.id", "a b@c.id", "x" * 321 + "@e.id", "a@b\x00.id"])
def test_the_subjects_email_is_checked(raw):
    with pytest.raises(Problem) as refused:
        subject_email(raw, "en")
    assert refused.value.status == 422


def test_the_subjects_email_is_looked_up_lowercased():
    assert subject_email("Siti@Example.GO.ID", "id") == "siti@example.go.id"
