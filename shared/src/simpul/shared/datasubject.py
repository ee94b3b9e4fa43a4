"""The data subject of a personal data request (UU 27/2022): an applicant email, checked the
same way at the gateway and at each service that answers the export."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from simpul.shared.problems import Problem, Text

INVALID_EMAIL = Text("Alamat email tidak valid.", "Not a valid email address.")
# RFC 5321: an address longer than this cannot be delivered, so nobody was ever recorded under it.
MAX_EMAIL_LENGTH = 320


def subject_email(raw: str, language: str) -> str:
    """`raw` as the key it is stored under (lowercased, as the applicant's email is kept), or a
    422 naming the field `email`."""
    try:
        if len(raw) > MAX_EMAIL_LENGTH:
            raise EmailNotValidError("too long")
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Problem(422, INVALID_EMAIL, slug="invalid-email",
                      errors=[{"field": "email", "message": INVALID_EMAIL.render(language)}]) from exc
    return checked.normalized.lower()
