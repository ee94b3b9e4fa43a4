from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from simpul.catalog.app import create_app
from simpul.catalog.settings import CatalogSettings
from tests.support.asgi import running


@pytest.fixture
async def client(settings_for) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(await settings_for(CatalogSettings))
    async with running(app) as client:
        yield client


@pytest.fixture
async def served(settings_for) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    """The client and its app, for tests that reach into the app's state."""
    app = create_app(await settings_for(CatalogSettings))
    async with running(app) as client:
        yield client, app
