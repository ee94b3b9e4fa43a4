"""GeoReport v2's answers as models, for the OpenAPI document only: the routes write what
georeport.py builds (tests/fixtures/open311 holds the spec's JSON schemas; the examples here are
checked against them, tests/unit/submissions/test_open311_openapi.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def _example(*examples: object) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class GeoReportService(BaseModel):
    model_config = _example({
        "service_code": "IZIN-LN-KDH", "service_name": "Izin Perjalanan ke Luar Negeri",
        "description": "Izin perjalanan dinas ke luar negeri bagi kepala daerah", "metadata": True,
        "type": "realtime", "keywords": "perizinan, KDN-PFK", "group": "perizinan",
    })

    service_code: str
    service_name: str
    description: str | None
    metadata: bool = Field(description="Always true: every service has a form (its definition)")
    type: Literal["realtime", "batch", "blackbox"] = Field(description="Always realtime: the id is in the answer")
    keywords: str | None = Field(description="The service's category and unit, comma-separated")
    group: str | None = Field(description="The service's category")


class GeoReportAttributeValue(BaseModel):
    key: str
    name: str


class GeoReportAttribute(BaseModel):
    variable: bool
    code: str = Field(description="Sent as attribute[<code>]; an object's fields have dotted codes")
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int
    description: str
    # Only the list datatypes carry it.
    values: list[GeoReportAttributeValue] = Field(default_factory=list, description="The choices of a list datatype")


class GeoReportServiceDefinition(BaseModel):
    model_config = _example({
        "service_code": "IZIN-LN-KDH",
        "attributes": [
            {"variable": True, "code": "tujuan", "datatype": "string", "required": True, "order": 1,
             "datatype_description": None, "description": "Negara tujuan"},
            {"variable": True, "code": "jabatan", "datatype": "singlevaluelist", "required": True, "order": 2,
             "datatype_description": None, "description": "jabatan",
             "values": [{"key": "gubernur", "name": "gubernur"}, {"key": "bupati", "name": "bupati"}]},
        ],
    })

    service_code: str
    attributes: list[GeoReportAttribute]


class GeoReportServiceRequest(BaseModel):
    model_config = _example({
        "service_request_id": "98JKWMK7CTKX", "status": "open",
        "status_notes": "Diterima, menunggu pemeriksaan / Received, waiting for review",
        "service_name": "Izin Perjalanan ke Luar Negeri", "service_code": "IZIN-LN-KDH", "description": None,
        "agency_responsible": "Biro Pemerintahan", "service_notice": None,
        "requested_datetime": "2026-03-02T08:15:00+00:00", "updated_datetime": "2026-03-02T08:15:00+00:00",
        "expected_datetime": "2026-03-09T08:15:00+00:00", "address": None, "address_id": None, "zipcode": None,
        "lat": None, "long": None, "media_url": None,
    })

    service_request_id: str = Field(description="The submission's tracking code")
    status: Literal["open", "closed"]
    status_notes: str | None = Field(description="Where the submission stands, in Indonesian / English")
    service_name: str | None
    service_code: str
    description: str | None = Field(description="Always null: the request's description is not stored")
    agency_responsible: str | None = Field(description="The unit that serves it")
    service_notice: str | None
    requested_datetime: str = Field(json_schema_extra={"format": "date-time"})
    updated_datetime: str | None = Field(json_schema_extra={"format": "date-time"})
    expected_datetime: str | None = Field(description="The service time's due date (working days)",
                                          json_schema_extra={"format": "date-time"})
    # No location or media: always null (no personal data, documents go through /v1).
    address: None
    address_id: None
    zipcode: None
    lat: None
    long: None
    media_url: None


class GeoReportToken(BaseModel):
    """What a create answers, and a token's GET answers the same."""

    model_config = _example({"token": "01a23d1a-95fa-7e1b-a22e-02eca8493651", "service_request_id": "98JKWMK7CTKX"})

    token: str = Field(description="The submission's id")
    service_request_id: str = Field(description="The submission's tracking code")


class GeoReportError(BaseModel):
    model_config = _example({"code": 400, "description": "attribute[perihal]: is required"})

    code: int = Field(description="The HTTP status")
    description: str = Field(description="What was wrong; an invalid field is named before a colon")
