"""The gateway's in-memory view of which clients are active, so that checking a token costs no
database round trip. A revocation in this process takes effect at once; revocations made by other
gateway processes are picked up by a periodic refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from simpul.gateway.clients import ClientRecord, ClientService
from simpul.gateway.officials import OfficialRecord, OfficialService
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

    def acting_as(self, official: OfficialRecord) -> ClientView:
        identity = self.identity
        return ClientView(Identity(subject=identity.subject, role=identity.role, tenant=identity.tenant,
                                   name=identity.name, official=official.official()))


class ClientRegistry:
    """Active clients, and the active officials officer tokens act as: a deactivated official's
    tokens are refused like a revoked client's (at once here, within a refresh elsewhere)."""

    def __init__(self, clients: ClientService, officials: OfficialService) -> None:
        self.clients = clients
        self.officials = officials
        self.anonymous = ClientView(ANONYMOUS)
        self._active: dict[str, ClientView] = {}
        self._revoked: set[str] = set()
        # Active officials by id; a token naming one not here is refused (after one database look
        # for an official registered by another replica).
        self._officials: dict[str, OfficialRecord] = {}
        # Deactivated for good: their tokens are refused without a database look each time.
        self._inactive_officials: set[str] = set()
        # (client id, official id) -> the view acting as that official, made once per change.
        self._acting: dict[tuple[str, str], ClientView] = {}
        self._checked_since = utcnow()

    async def load(self) -> None:
        self._checked_since = utcnow()
        self._active = {record.client_id: ClientView.of(record) for record in await self.clients.active_clients()}
        self._officials = {record.id: record for record in await self.officials.all_active()}
        self._acting.clear()

    async def resolve_acting(self, client_id: str, official_id: str) -> ClientView | None:
        """The client's view acting as the official, None when either is no longer active or the
        official is not of the client's unit."""
        view = self._acting.get((client_id, official_id))
        if view is not None:
            return view
        client = self.get(client_id) or await self.resolve(client_id)
        if client is None:
            return None
        official = self._officials.get(official_id)
        if official is None:
            if official_id in self._inactive_officials:
                return None
            found = await self.officials.find(official_id)
            if found is None:
                return None
            self.official_changed(found)
            if not found.active:
                return None
            official = found
        if official.unit != client.identity.tenant or client.identity.role != "officer":
            return None
        view = self._acting[(client_id, official_id)] = client.acting_as(official)
        return view

    def official_changed(self, record: OfficialRecord) -> None:
        """Deactivated or changed (name, position, roles): the next request re-reads it."""
        if record.active:
            self._officials[record.id] = record
        else:
            self._officials.pop(record.id, None)
            self._inactive_officials.add(record.id)
        for key in [key for key in self._acting if key[1] == record.id]:
            del self._acting[key]

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
        for key in [key for key in self._acting if key[0] == client_id]:
            del self._acting[key]

    async def refresh(self) -> None:
        started = utcnow()
        since = self._checked_since - _OVERLAP
        for client_id in await self.clients.revoked_since(since):
            self.forget(client_id)
        for record in await self.officials.changed_since(since):
            self.official_changed(record)
        self._checked_since = started
