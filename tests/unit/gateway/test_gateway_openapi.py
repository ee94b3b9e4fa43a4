"""Merging the services' OpenAPI documents into one."""

from __future__ import annotations

from simpul.gateway.openapi import merge

PAGE_REF = "#/components/schemas/Page"


def own() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Simpul gateway", "version": "1.0.0"},
        "paths": {
            "/v1/oauth/token": {"post": {"operationId": "token", "responses": {}}},
            "/.well-known/jwks.json": {"get": {"operationId": "jwks", "responses": {}}},
            "/v1/admin/clients": {
                "get": {
                    "operationId": "list",
                    "responses": {"200": {"content": {"application/json": {"schema": {"$ref": PAGE_REF}}}}},
                }
            },
        },
        "components": {"schemas": {"Page": {"type": "object", "title": "gateway page"},
                                   "Shared": {"type": "string"}}},
    }


def catalog() -> dict:
    return {
        "openapi": "3.1.0",
        "paths": {
            "/v1/services": {
                "get": {
                    "operationId": "list",
                    "tags": ["catalogue"],
                    "responses": {"200": {"content": {"application/json": {"schema": {"$ref": PAGE_REF}}}}},
                }
            },
            "/v1/services/{code}": {"get": {"operationId": "one", "responses": {}}},
            "/internal/services/{code}": {"get": {"operationId": "internal", "responses": {}}},
            "/v1/submissions": {"get": {"operationId": "stray", "responses": {}}},
        },
        "components": {
            "schemas": {
                "Page": {"type": "object", "title": "catalog page", "properties": {"x": {"$ref": "#/components/schemas/Shared"}}},
                "Shared": {"type": "string"},
                "Wrapper": {"type": "object", "properties": {"page": {"$ref": PAGE_REF}}},
            }
        },
    }


def test_public_paths_of_each_service_are_merged_and_internal_ones_dropped():
    document = merge(own(), {"catalog": catalog(), "submissions": None}, server_url="https://api.example")
    paths = document["paths"]
    assert set(paths) == {"/v1/oauth/token", "/.well-known/jwks.json", "/v1/admin/clients", "/v1/services",
                          "/v1/services/{code}"}
    assert document["x-simpul-missing"] == ["submissions"]
    assert document["servers"] == [{"url": "https://api.example"}]
    assert paths["/v1/services"]["get"]["tags"] == ["catalogue"]
    assert paths["/v1/services/{code}"]["get"]["tags"] == ["catalog"]  # untagged: the service's name


def test_clashing_component_names_are_renamed_and_references_follow():
    document = merge(own(), {"catalog": catalog()}, server_url="x")
    schemas = document["components"]["schemas"]
    assert schemas["Page"]["title"] == "gateway page"
    assert schemas["catalog_Page"]["title"] == "catalog page"
    assert "catalog_Shared" not in schemas  # identical: kept once
    assert schemas["Wrapper"]["properties"]["page"]["$ref"] == "#/components/schemas/catalog_Page"
    catalog_list = document["paths"]["/v1/services"]["get"]
    assert catalog_list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/catalog_Page"
    )
    gateway_list = document["paths"]["/v1/admin/clients"]["get"]
    assert gateway_list["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == PAGE_REF


def test_operation_ids_stay_unique():
    document = merge(own(), {"catalog": catalog()}, server_url="x")
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    ]
    assert len(ids) == len(set(ids))
    assert document["paths"]["/v1/services"]["get"]["operationId"] == "catalog_list"


def test_security_schemes_describe_bearer_tokens_and_the_client_credentials_flow():
    document = merge(own(), {}, server_url="x")
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/v1/oauth/token"
    assert "x-simpul-missing" not in document


def test_what_the_gateway_itself_may_answer_is_documented_on_every_public_operation():
    document = merge(own(), {"catalog": catalog()}, server_url="x")
    forwarded = document["paths"]["/v1/services"]["get"]["responses"]
    assert {"401", "429", "502", "503", "504"} <= set(forwarded)
    assert forwarded["503"]["content"]["application/problem+json"]["schema"]["$ref"] == (
        "#/components/schemas/Problem"
    )
    assert "Problem" in document["components"]["schemas"]
    assert set(forwarded["200"]["headers"]) == {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    assert "Retry-After" in forwarded["429"]["headers"]
    own_operation = document["paths"]["/v1/admin/clients"]["get"]["responses"]
    assert "429" in own_operation and "503" not in own_operation
    assert "429" not in document["paths"]["/.well-known/jwks.json"]["get"]["responses"]


def test_the_tags_operations_use_are_listed_with_their_descriptions():
    document = merge(own(), {"catalog": catalog()}, server_url="x")
    assert [tag["name"] for tag in document["tags"]] == ["catalogue"]
    assert document["tags"][0]["description"]
    assert "security" not in document  # each operation declares its own
