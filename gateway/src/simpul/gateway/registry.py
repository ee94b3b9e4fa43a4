"""The gateway's in-memory view of which clients are active, so that checking a token costs no
database round trip. A revocation in this process takes effect at once; revocations made by other
gateway processes are picked up by a periodic refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from simpul.gateway.clients import ClientRecord, ClientService
from simpul.shared.db import utcnow
from simpul.shared.identity import ANONYMOUS, Identity

# Rows revoked a little before the previous refresh are looked at again, for clock skew between
# gateway processes and transactions that committed late.
_OVERLAP = timedelta(seconds=60)


@dataclass(eq=False)
class ClientView:
    """Who a caller is, for the proxy: the identity it is asserted as, and the assertions
    already minted for it, per service (see tokens.AssertionMinter)."""

    identity: Identity
    assertions: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def client_id(self) -> str:
        return self.identity.subject

    @classmethod
    def of(cls, record: ClientRecord) -> ClientView:
        return cls(Identity(subject=record.client_id, role=record.role, tenant=record.tenant, name=record.name))


class ClientRegistry:
    def __init__(self, clients: ClientService) -> None:
        self.clients = clients
        self.anonymous = ClientView(ANONYMOUS)
        self._active: dict[str, ClientView] = {}
        self._revoked: set[str] = set()
        self._checked_since = utcnow()

    async def load(self) -> None:
        self._checked_since = utcnow()
        self._active = {record.client_id: ClientView.of(record) for record in await self.clients.active_clients()}

    def get(self, client_id: str) -> ClientView | None:
        """The fast path: no I/O. None means unknown here (maybe created by another process)."""
        return self._active.get(client_id)

    async def resolve(self, client_id: str) -> ClientView | None:
        """The client's view if it is active, looking in the database for one this process has not seen."""
        view = self._active.get(client_id)
        if view is not None or client_id in self._revoked:
            return view
        record = await self.clients.find(client_id)
        if record is None or not record.active:
            self._revoked.add(client_id)
            return None
        return self.remember(record)

    def remember(self, record: ClientRecord) -> ClientView:
        # A client's role, tenant and name never change, so a view once made stays right.
        return self._active.setdefault(record.client_id, ClientView.of(record))

    def forget(self, client_id: str) -> None:
        self._active.pop(client_id, None)
        self._revoked.add(client_id)

    async def refresh(self) -> None:
        started = utcnow()
        for client_id in await self.clients.revoked_since(self._checked_since - _OVERLAP):
            self.forget(client_id)
        self._checked_since = started
