"""A small client of the public API, used by the end-to-end tests as an integrator would."""

from __future__ import annotations

import time
import uuid

import httpx


class PublicApi:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def token(self, client_id: str, client_secret: str) -> str:
        response = self.http.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def as_client(self, client_id: str, client_secret: str) -> httpx.Client:
        token = self.token(client_id, client_secret)
        return httpx.Client(base_url=self.base_url, timeout=30.0, headers={"Authorization": f"Bearer {token}"})

    def create_client(self, admin: httpx.Client, role: str, tenant: str | None) -> dict:
        body = {"name": f"{role} {tenant} {uuid.uuid4().hex[:6]}", "role": role}
        if tenant is not None:
            body["tenant"] = tenant
        response = admin.post("/v1/admin/clients", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def client_for(self, admin: httpx.Client, role: str, tenant: str | None) -> httpx.Client:
        created = self.create_client(admin, role, tenant)
        return self.as_client(created["client_id"], created["client_secret"])

    def close(self) -> None:
        self.http.close()


def once_issued(applicant: httpx.Client, submission_id: str, timeout: float = 60.0) -> dict:
    """The submission as its applicant sees it once issued (the signing runs after approval)."""
    deadline = time.monotonic() + timeout
    while True:
        current = applicant.get(f"/v1/submissions/{submission_id}").json()
        if current["status"] == "issued" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert current["status"] == "issued", current
    return current
