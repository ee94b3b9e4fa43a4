"""The demo catalogue: realistic published services, loaded at start-up when SIMPUL_DEMO is on."""

from __future__ import annotations

import logging
from importlib import resources

from fastapi import FastAPI
from pydantic import TypeAdapter

from simpul.shared.identity import SERVICE_ROLE, Identity

from simpul.catalog.rules import definition_errors
from simpul.catalog.schemas import ServiceCreate

log = logging.getLogger("simpul.catalog.demo")

DEMO_ACTOR = Identity(subject="catalog:demo", role=SERVICE_ROLE, name="Demo catalogue")

_SERVICES = TypeAdapter(list[ServiceCreate])


def demo_services() -> list[ServiceCreate]:
    """The services of demo_services.json, held to the same rules as an admin's input."""
    raw = resources.files("simpul.catalog").joinpath("demo_services.json").read_bytes()
    services = _SERVICES.validate_json(raw)
    for service in services:
        errors = definition_errors(service)
        if errors:
            raise ValueError(f"demo service {service.code}: {[error.render('en') for error in errors]}")
    return services


async def load_demo(app: FastAPI) -> None:
    created = await app.state.catalogue.seed(DEMO_ACTOR, demo_services())
    if created:
        log.info("demo catalogue: published %s", ", ".join(created))
