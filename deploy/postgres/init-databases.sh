#!/bin/bash
# Run once by the postgres image's entrypoint (/docker-entrypoint-initdb.d) on an empty data
# volume: one database per Simpul service, each owned by its own login role, and no one else
# may connect to it, so a service cannot read another's database even by mistake.
# The passwords come from the postgres container's environment (see docker-compose.yml).
set -euo pipefail

create_service_database() {
    local name="$1" password="$2"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=name="$name" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
}

create_service_database gateway "${SIMPUL_GATEWAY_DB_PASSWORD:?}"
create_service_database catalog "${SIMPUL_CATALOG_DB_PASSWORD:?}"
create_service_database submissions "${SIMPUL_SUBMISSIONS_DB_PASSWORD:?}"
create_service_database signatures "${SIMPUL_SIGNATURES_DB_PASSWORD:?}"
create_service_database notifications "${SIMPUL_NOTIFICATIONS_DB_PASSWORD:?}"
