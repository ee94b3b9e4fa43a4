"""CPSV-AP 3.2.0 JSON-LD of a published standard (`Accept: application/ld+json`), parsed by rdflib
with nothing fetched (the context is embedded) and checked triple by triple."""

from __future__ import annotations

import rdflib
from rdflib import RDF, XSD, Literal, URIRef
from rdflib.namespace import DCTERMS, SKOS

from tests.api.catalog.helpers import create, public, publish, service_body

CPSV = rdflib.Namespace("http://purl.org/vocab/cpsv#")
CV = rdflib.Namespace("http://data.europa.eu/m8g/")
ELI = rdflib.Namespace("http://data.europa.eu/eli/ontology#")
IDR = URIRef("http://publications.europa.eu/resource/authority/currency/IDR")
JSON_LD = "application/ld+json"


async def test_a_standard_as_cpsv_ap_public_service_triples(client):
    body = service_body("UJI-CPSV")
    await create(client, "UJI-CPSV")
    await publish(client, "UJI-CPSV")

    answer = await client.get("/v1/services/UJI-CPSV", headers={**public(), "Accept": JSON_LD})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == JSON_LD
    assert isinstance(answer.json()["@context"], dict)  # embedded: nothing to fetch
    graph = rdflib.Graph().parse(data=answer.text, format="json-ld")

    service = URIRef("http://127.0.0.1:8000/v1/services/UJI-CPSV")
    assert (service, RDF.type, CPSV.PublicService) in graph
    assert graph.value(service, DCTERMS.identifier) == Literal("UJI-CPSV")
    assert graph.value(service, DCTERMS.title) == Literal(body["name"])

    evidence = {str(graph.value(node, DCTERMS.identifier)): node for node in graph.objects(service, CPSV.hasInput)}
    assert set(evidence) == {requirement["code"] for requirement in body["requirements"]}
    for requirement in body["requirements"]:
        node = evidence[requirement["code"]]
        assert (node, RDF.type, CV.Evidence) in graph
        assert graph.value(node, DCTERMS.title) == Literal(requirement["name"])

    cost = graph.value(service, CV.hasCost)
    assert (cost, RDF.type, CV.Cost) in graph
    assert graph.value(cost, CV.value) == Literal(str(body["fee"]["amount"]), datatype=XSD.decimal)
    assert graph.value(cost, CV.currency) == IDR
    assert str(graph.value(cost, DCTERMS.description)) == body["fee"]["legal_basis"]

    assert graph.value(service, CV.processingTime) == Literal(f"P{body['sla_working_days']}D",
                                                              datatype=XSD.duration)
    authority = graph.value(service, CV.hasCompetentAuthority)
    assert (authority, RDF.type, CV.PublicOrganisation) in graph
    assert graph.value(authority, DCTERMS.identifier) == Literal(body["unit"])
    assert graph.value(authority, SKOS.prefLabel) is not None

    legal = {str(graph.value(node, DCTERMS.title)) for node in graph.objects(service, CV.hasLegalResource)}
    assert legal == set(body["legal_basis"])
    assert all((node, RDF.type, ELI.LegalResource) in graph for node in graph.objects(service, CV.hasLegalResource))
    channels = list(graph.objects(service, CV.hasChannel))
    assert len(channels) == 1 + len(body.get("complaint_channels", []))
    assert all((node, RDF.type, CV.Channel) in graph for node in channels)
    output = graph.value(service, CPSV.produces)
    assert (output, RDF.type, CV.Output) in graph
    assert graph.value(output, DCTERMS.title) == Literal(body["output"]["name"])


async def test_plain_json_stays_the_default_and_the_json_ld_has_its_own_etag(client):
    await create(client, "UJI-CPSV2")
    await publish(client, "UJI-CPSV2")
    plain = await client.get("/v1/services/UJI-CPSV2", headers=public())
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["code"] == "UJI-CPSV2"
    linked = await client.get("/v1/services/UJI-CPSV2", headers={**public(), "Accept": JSON_LD})
    assert linked.headers["etag"] != plain.headers["etag"]
    again = await client.get("/v1/services/UJI-CPSV2",
                             headers={**public(), "Accept": JSON_LD, "If-None-Match": linked.headers["etag"]})
    assert again.status_code == 304
    unknown = await client.get("/v1/services/NOPE-X", headers={**public(), "Accept": JSON_LD})
    assert unknown.status_code == 404
