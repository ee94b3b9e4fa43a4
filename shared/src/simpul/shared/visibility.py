"""Who sees which rows: one rule for every service's lists and single reads.

Admins see every row. An applicant sees the rows of its region (the row's tenant), an officer
the rows of its unit (the row's unit; an officer's assertion carries its unit as `tenant`).
Anyone else sees none: anonymous callers, services, and a client bound to no region or unit.
`Visibility.where` gives the rule as a where-clause and `Visibility.allows` as a check of a row
already read, so a list and a single read can't disagree. A row outside it is answered with 404,
as if it did not exist (isolation is never 403).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, false, true

from simpul.shared.identity import Identity
from simpul.shared.logs import security_event

# The value of a row each role is matched on; roles not named here see nothing.
MATCHED_ON = {"applicant": "tenant", "officer": "unit"}


@dataclass(frozen=True, slots=True)
class Visibility:
    everything: bool = False
    # Which of a row's values must equal `value`: "tenant" or "unit"; None with `everything`
    # False: no row at all.
    key: str | None = None
    value: str | None = None

    @classmethod
    def of(cls, identity: Identity) -> Visibility:
        if identity.role == "admin":
            return cls(everything=True)
        key = MATCHED_ON.get(identity.role)
        if key is None or not identity.tenant:
            return cls()
        return cls(key=key, value=identity.tenant)

    @property
    def nothing(self) -> bool:
        return not self.everything and self.key is None

    def where(self, table: FromClause, *, tenant: str = "tenant", unit: str = "unit") -> ColumnElement[bool]:
        """The rule on `table`, whose columns `tenant` and `unit` hold a row's region and unit."""
        if self.everything:
            return true()
        if self.key is None:
            return false()
        return table.c[tenant if self.key == "tenant" else unit] == self.value

    def allows(self, row: Mapping[str, Any], *, tenant: str = "tenant", unit: str = "unit") -> bool:
        """The rule on one row (a mapping with the keys `tenant` and `unit`); a refusal goes to the
        security log, since the caller only sees a 404."""
        if self.everything:
            return True
        if self.key is not None and row[tenant if self.key == "tenant" else unit] == self.value:
            return True
        security_event("hidden_object", f"visibility: {self.key or 'nothing'}")
        return False
