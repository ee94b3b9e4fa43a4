"""A service standard as a CPSV-AP 3.2.0 `PublicService` in JSON-LD (SEMIC's Core Public Service
Vocabulary Application Profile), for the EU-style catalogues and registries that read it.

The `@context` is embedded, with the term names of SEMIC's published context
(https://semiceu.github.io/CPSV-AP/releases/3.2.0/context/cpsv-ap.jsonld) mapped to the same IRIs:
a processor never has to fetch anything, at run time or in tests. Plain JSON stays the default
answer; this one is chosen with `Accept: application/ld+json`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

CONTENT_TYPE = "application/ld+json"
SEMIC_CONTEXT = "https://semiceu.github.io/CPSV-AP/releases/3.2.0/context/cpsv-ap.jsonld"
CPSV = "http://purl.org/vocab/cpsv#"
CV = "http://data.europa.eu/m8g/"
DCT = "http://purl.org/dc/terms/"
ELI = "http://data.europa.eu/eli/ontology#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
XSD = "http://www.w3.org/2001/XMLSchema#"
# EU Publications Office authority tables: the currency and the country, as CPSV-AP asks.
CURRENCY_IDR = "http://publications.europa.eu/resource/authority/currency/IDR"
COUNTRY_INDONESIA = "http://publications.europa.eu/resource/authority/country/IDN"
LANGUAGE_INDONESIAN = "http://publications.europa.eu/resource/authority/language/IND"

CONTEXT: dict[str, Any] = {
    "cpsv": CPSV,
    "cv": CV,
    "dct": DCT,
    "eli": ELI,
    "skos": SKOS,
    "xsd": XSD,
    "PublicService": "cpsv:PublicService",
    "Evidence": "cv:Evidence",
    "Cost": "cv:Cost",
    "Channel": "cv:Channel",
    "Output": "cv:Output",
    "PublicOrganisation": "cv:PublicOrganisation",
    "LegalResource": "eli:LegalResource",
    "identifier": "dct:identifier",
    "title": "dct:title",
    "description": "dct:description",
    "type": "dct:type",
    "prefLabel": "skos:prefLabel",
    "spatial": {"@id": "dct:spatial", "@type": "@id"},
    "language": {"@id": "dct:language", "@type": "@id"},
    "hasInput": {"@id": "cpsv:hasInput", "@container": "@set"},
    "produces": {"@id": "cpsv:produces", "@container": "@set"},
    "hasCost": {"@id": "cv:hasCost", "@container": "@set"},
    "hasChannel": {"@id": "cv:hasChannel", "@container": "@set"},
    "hasCompetentAuthority": "cv:hasCompetentAuthority",
    "hasLegalResource": {"@id": "cv:hasLegalResource", "@container": "@set"},
    "processingTime": {"@id": "cv:processingTime", "@type": "xsd:duration"},
    "value": {"@id": "cv:value", "@type": "xsd:decimal"},
    "currency": {"@id": "cv:currency", "@type": "@id"},
    "sector": "cv:sector",
}


def public_service(document: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The JSON-LD of one standard; `base_url` (the public origin) makes the node IRIs."""
    service_iri = f"{base_url.rstrip('/')}/v1/services/{quote(document['code'], safe='')}"
    unit = document["unit"]
    fee = document["fee"]
    output = document.get("output") or {}
    return {
        "@context": CONTEXT,
        "@id": service_iri,
        "@type": "PublicService",
        "identifier": document["code"],
        "title": document["name"],
        "description": document.get("description") or "",
        "sector": document.get("category"),
        "language": [LANGUAGE_INDONESIAN],
        "hasCompetentAuthority": {
            "@id": f"{base_url.rstrip('/')}/v1/services?unit={quote(unit, safe='')}",
            "@type": "PublicOrganisation",
            "identifier": unit,
            "prefLabel": document.get("unit_name") or unit,
            "spatial": COUNTRY_INDONESIA,
        },
        "hasInput": [
            {
                "@id": f"{service_iri}#evidence-{quote(requirement['code'], safe='')}",
                "@type": "Evidence",
                "identifier": requirement["code"],
                "title": requirement["name"],
                "description": requirement.get("description") or requirement["name"],
            }
            for requirement in document.get("requirements", [])
        ],
        "hasCost": [
            {
                "@id": f"{service_iri}#cost",
                "@type": "Cost",
                "value": str(fee["amount"]),
                "currency": CURRENCY_IDR,
                # CPSV-AP's Cost has no legal-resource property: the fee's legal basis is its description.
                "description": fee.get("legal_basis") or "",
            }
        ],
        # Working days (Indonesian public holidays and weekends excluded), as the standard states them.
        "processingTime": f"P{int(document['sla_working_days'])}D",
        "hasChannel": _channels(document, service_iri),
        "hasLegalResource": [
            {"@id": f"{service_iri}#legal-{index}", "@type": "LegalResource", "title": basis}
            for index, basis in enumerate(document.get("legal_basis", []), start=1)
        ],
        "produces": [
            {
                "@id": f"{service_iri}#output",
                "@type": "Output",
                "title": output.get("name") or "",
                "description": output.get("description") or output.get("name") or "",
            }
        ] if output else [],
    }


def _channels(document: dict[str, Any], service_iri: str) -> list[dict[str, Any]]:
    # Requests come in through this API; complaints through the channels the standard lists.
    channels = [
        {
            "@id": f"{service_iri}#channel-api",
            "@type": "Channel",
            "type": "online",
            "identifier": service_iri.rsplit("/v1/", 1)[0] + "/v1/submissions",
            "description": "Simpul API: POST /v1/submissions",
        }
    ]
    for index, channel in enumerate(document.get("complaint_channels", []), start=1):
        described = f"{channel['channel']}: {channel['contact']}"
        if channel.get("description"):
            described += f" ({channel['description']})"
        channels.append({
            "@id": f"{service_iri}#complaints-{index}",
            "@type": "Channel",
            "type": "complaints",
            "identifier": channel["contact"],
            "description": described,
        })
    return channels
