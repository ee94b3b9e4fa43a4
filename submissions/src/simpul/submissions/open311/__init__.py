"""The Open311 GeoReport v2 facade (`/open311/v2/`, docs/open-standards.md): the published
catalogue as GeoReport services and service definitions, submissions as service requests.
`georeport.py` is the translation (no I/O), `service.py` the use cases over the submissions core
and the catalogue client, `api.py` the routes. The gateway moves `api_key` into the bearer token
and renders every error here as GeoReport's `[{"code", "description"}]`."""
