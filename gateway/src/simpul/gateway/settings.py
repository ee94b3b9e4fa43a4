from __future__ import annotations

from typing import ClassVar

from ipaddress import ip_network

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from simpul.gateway.loginguard import FailurePolicy
from simpul.shared.settings import BaseServiceSettings

DEV_ADMIN_CLIENT_ID = "simpul-admin"
DEV_ADMIN_CLIENT_SECRET = "simpul-dev-secret"


class GatewaySettings(BaseServiceSettings):
    # docker-compose passes unset variables as empty strings; they mean "use the default". A bad
    # value is named in the error, never shown (a Redis URL may hold a password).
    model_config = SettingsConfigDict(env_ignore_empty=True, hide_input_in_errors=True)

    service_name: ClassVar[str] = "gateway"

    database_url: str | None = Field(default=None, validation_alias="SIMPUL_GATEWAY_DATABASE_URL")
    port: int = Field(default=8000, validation_alias="SIMPUL_GATEWAY_PORT")

    admin_client_id: str = Field(
        default=DEV_ADMIN_CLIENT_ID,
        validation_alias="SIMPUL_ADMIN_CLIENT_ID",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$",
    )
    admin_client_secret: str = Field(
        default=DEV_ADMIN_CLIENT_SECRET, validation_alias="SIMPUL_ADMIN_CLIENT_SECRET", min_length=8, repr=False
    )

    # SIMPUL_TOKEN_LIFETIME_SECONDS: how long an access token is valid.
    token_lifetime_seconds: int = Field(default=900, ge=60, le=86400)

    # SIMPUL_RATE_LIMIT_PER_MINUTE / SIMPUL_RATE_LIMIT_BURST: a token bucket per client (per
    # address for anonymous callers), refilled at the per-minute rate; the burst defaults to it.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_burst: int | None = Field(default=None, ge=1)

    # SIMPUL_VERIFY_RATE_LIMIT_PER_MINUTE / _BURST: public verification (`/v1/verify...`) has its own
    # bucket per address, whoever asks: a lookup by id costs 1 token, a check of an uploaded PDF
    # SIMPUL_VERIFY_UPLOAD_COST (measured: about 20 times a lookup's CPU, mostly pyHanko in its
    # isolated process). The default lets one address look up 300 documents or check 15 PDFs a minute.
    verify_rate_limit_per_minute: int = Field(default=300, ge=1)
    verify_rate_limit_burst: int | None = Field(default=None, ge=1)
    verify_upload_cost: int = Field(default=20, ge=1)

    # Failed token requests (see loginguard.py): within SIMPUL_TOKEN_FAILURE_WINDOW_SECONDS, this many
    # failures lock a (client id, address) pair, an address, or a client id for addresses that never
    # obtained its token; each lock in a row lasts twice the one before, from the base to the max.
    token_failure_window_seconds: int = Field(default=900, ge=1)
    token_failures_per_client_address: int = Field(default=10, ge=1)
    token_failures_per_address: int = Field(default=50, ge=1)
    token_failures_per_client: int = Field(default=200, ge=1)
    token_lockout_base_seconds: int = Field(default=30, ge=1)
    token_lockout_max_seconds: int = Field(default=3600, ge=1)
    # How long an address that obtained a client's token stays exempt from that client's own lock.
    token_known_address_seconds: int = Field(default=7 * 86400, ge=0)

    # SIMPUL_UPSTREAM_CONNECT_TIMEOUT / SIMPUL_UPSTREAM_READ_TIMEOUT (seconds) for every service;
    # SIMPUL_UPSTREAM_READ_TIMEOUTS='{"signatures": 60}' overrides the read timeout per service.
    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_read_timeout: float = Field(default=30.0, gt=0)
    upstream_read_timeouts: dict[str, float] = Field(default_factory=dict)

    # Largest upload forwarded to a service (413 above it); files stream through. Other bodies are
    # held to SIMPUL_MAX_JSON_BYTES (every process's setting).
    max_body_bytes: int = Field(default=100 * 1024 * 1024, ge=1, validation_alias="SIMPUL_GATEWAY_MAX_BODY_BYTES")

    # SIMPUL_METRICS_HOST / SIMPUL_METRICS_PORT: where the gateway serves /metrics, apart from the
    # public port (which answers 404 there); 0 takes any free port. Keep it on the monitoring network.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=8010, ge=0, le=65535)

    # How often revocations and signing-key rotations made by other gateway replicas are picked up
    # from the database (the bound on their staleness without Redis).
    client_refresh_seconds: float = Field(default=1.0, gt=0, validation_alias="SIMPUL_GATEWAY_CLIENT_REFRESH_SECONDS")

    # SIMPUL_REDIS_URL (optional, redis://...): rate limits counted once for all gateway replicas
    # and revocations broadcast to them at once. Unset or unreachable: counted in each process.
    redis_url: str | None = Field(default=None, repr=False, pattern=r"^(redis|rediss|unix)://\S+$")
    # SIMPUL_REDIS_PREFIX: names this deployment's keys and channel, for a Redis shared with others.
    redis_prefix: str = Field(default="simpul-gateway", pattern=r"^[A-Za-z0-9._:-]{1,64}$")

    # SIMPUL_FORWARDED_ALLOW_IPS (uvicorn's name for it; SIMPUL_TRUSTED_PROXIES, its first name, is
    # read too): addresses or networks (comma-separated, e.g. `127.0.0.1,10.0.0.0/8`) of the proxies
    # in front of the gateway (nginx) whose X-Forwarded-For names the caller. Unset, none: behind a
    # proxy every anonymous caller would share the proxy's rate bucket.
    trusted_proxies: str = Field(default="", validation_alias=AliasChoices(
        "SIMPUL_FORWARDED_ALLOW_IPS", "SIMPUL_TRUSTED_PROXIES", "trusted_proxies"))

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for entry in proxy_networks(value):
            try:
                ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"SIMPUL_FORWARDED_ALLOW_IPS: not an address or network: {entry!r}") from None
        return value

    @property
    def rate_limit_capacity(self) -> int:
        return self.rate_limit_burst or self.rate_limit_per_minute

    @model_validator(mode="after")
    def _upload_fits_the_burst(self) -> GatewaySettings:
        if self.verify_upload_cost > self.verify_rate_limit_capacity:
            raise ValueError("SIMPUL_VERIFY_UPLOAD_COST must not exceed the verify burst "
                             "(SIMPUL_VERIFY_RATE_LIMIT_BURST, or the per-minute rate): no upload could pass")
        return self

    @property
    def verify_rate_limit_capacity(self) -> int:
        return self.verify_rate_limit_burst or self.verify_rate_limit_per_minute

    @property
    def token_failure_policy(self) -> FailurePolicy:
        return FailurePolicy(
            window_seconds=self.token_failure_window_seconds,
            per_pair=self.token_failures_per_client_address,
            per_address=self.token_failures_per_address,
            per_client=self.token_failures_per_client,
            base_seconds=self.token_lockout_base_seconds,
            max_seconds=max(self.token_lockout_max_seconds, self.token_lockout_base_seconds),
            known_seconds=self.token_known_address_seconds,
        )

    @property
    def uses_dev_admin_secret(self) -> bool:
        return self.admin_client_secret == DEV_ADMIN_CLIENT_SECRET

    def upstream_urls(self) -> dict[str, list[str]]:
        """Each service's replicas."""
        return {name: self.replica_urls(name) for name in ("catalog", "submissions", "signatures", "notifications")}

    def trusted_proxy_networks(self) -> list[str]:
        return proxy_networks(self.trusted_proxies)

    def read_timeout_for(self, upstream: str) -> float:
        return self.upstream_read_timeouts.get(upstream, self.upstream_read_timeout)


def proxy_networks(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]
