"""Every free-text field a client can send, in every service, refuses control characters.

Walks each app's routes (JSON and form bodies, nested models), so a field added
later fails here until it is declared as `SingleLineText` / `PlainText` (simpul.shared.text).
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from simpul.shared.text import CheckedText

APPS = [
    ("simpul.gateway", "GatewaySettings"),
    ("simpul.catalog", "CatalogSettings"),
    ("simpul.submissions", "SubmissionsSettings"),
    ("simpul.signatures", "SignaturesSettings"),
    ("simpul.notifications", "NotificationsSettings"),
]


def is_checked(metadata: list[object]) -> bool:
    return any(isinstance(getattr(item, "func", None), CheckedText) for item in metadata)


def unchecked(annotation: object, metadata: list[object], where: str, seen: set[type]) -> Iterator[str]:
    """The places under `annotation` where a plain `str` arrives unchecked."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        yield from unchecked(base, [*metadata, *extra], where, seen)
    elif annotation is str:
        if not is_checked(metadata):
            yield where
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for name, field in annotation.model_fields.items():
            yield from unchecked(field.annotation, list(field.metadata), f"{annotation.__name__}.{name}", seen)
    elif origin in (typing.Union, types.UnionType, list, tuple, set, frozenset):
        for argument in typing.get_args(annotation):
            yield from unchecked(argument, metadata, where, seen)
    elif origin is dict:
        # Free-form JSON: the keys are `str` but checked with the values by PlainJson.
        if not any(getattr(item, "func", None) is not None for item in metadata):
            key, value = typing.get_args(annotation)
            yield from unchecked(key, metadata, f"{where} (keys)", seen)


def api_routes(routes) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router, kept apart by FastAPI
            yield from api_routes(route.original_router.routes)


def route_inputs(app) -> Iterator[tuple[str, object, list[object]]]:
    for route in api_routes(app.routes):
        dependant = route.dependant
        params = list(dependant.body_params)
        stack = list(dependant.dependencies)
        while stack:
            sub = stack.pop()
            params.extend(sub.body_params)
            stack.extend(sub.dependencies)
        for param in params:
            info: FieldInfo = param.field_info
            yield f"{route.path} {param.name}", info.annotation, list(info.metadata)


@pytest.mark.parametrize(("package", "settings_name"), APPS)
def test_every_free_text_input_is_a_checked_type(package, settings_name, tmp_path):
    settings_class = getattr(importlib.import_module(f"{package}.settings"), settings_name)
    app = importlib.import_module(f"{package}.app").create_app(settings_class(data_dir=tmp_path))
    seen: set[type] = set()
    offenders = sorted({place for where, annotation, metadata in route_inputs(app)
                        for place in unchecked(annotation, metadata, where, seen)})
    assert not offenders, "declare as SingleLineText or PlainText (simpul.shared.text): " + ", ".join(offenders)


def test_the_walk_finds_a_plain_str_however_deep():
    class Inner(BaseModel):
        label: str | None = None

    class Outer(BaseModel):
        items: list[Inner]
        extra: dict[str, int]

    assert sorted(unchecked(Outer, [], "body", set())) == ["Inner.label", "Outer.extra (keys)"]
