# syntax=docker/dockerfile:1
# One image per Simpul service, chosen by build arguments (docker-compose.yml passes them):
#   SERVICE_DIR            the service's folder               service-catalog
#   SERVICE_MODULE         its package under simpul           catalog
#   SERVICE_PORT           the port it listens on             8001
#   SERVICE_PORT_VARIABLE  the setting that holds that port   SIMPUL_CATALOG_PORT
# Build from the repository root, which holds shared/ and requirements.txt:
#   docker build --build-arg SERVICE_DIR=service-catalog --build-arg SERVICE_MODULE=catalog \
#     --build-arg SERVICE_PORT=8001 --build-arg SERVICE_PORT_VARIABLE=SIMPUL_CATALOG_PORT -t simpul-catalog .
#
# The runtime image holds one virtualenv with shared/ and this service and what those two
# distributions declare in their pyproject.toml, at the versions pinned in requirements.txt
# (used as constraints; pip refuses extras there, hence the sed; the test tools are pinned apart
# in requirements-test.txt): no test tools, no other service, no compiler.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE_DIR
ARG SERVICE_MODULE
ARG SERVICE_PORT
ARG SERVICE_PORT_VARIABLE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# A missing build argument stops the build here rather than making an image of nothing.
RUN : "${SERVICE_DIR:?}" "${SERVICE_MODULE:?}" "${SERVICE_PORT:?}" "${SERVICE_PORT_VARIABLE:?}" \
 && python -m venv /opt/simpul
COPY requirements.txt ./
COPY shared/ shared/
COPY ${SERVICE_DIR}/ ${SERVICE_DIR}/
RUN sed -E 's/\[[^]]*\]//' requirements.txt > constraints.txt \
 && /opt/simpul/bin/pip install --constraint constraints.txt ./shared "./${SERVICE_DIR}" \
 && /opt/simpul/bin/pip check \
 && /opt/simpul/bin/python -c "import simpul.${SERVICE_MODULE}.app"

FROM ${PYTHON_IMAGE}
ARG SERVICE_MODULE
ARG SERVICE_PORT
ARG SERVICE_PORT_VARIABLE
# CMD and HEALTHCHECK see no build arguments: which service this is, and which setting holds its
# port, stay in the image's environment.
ENV PATH=/opt/simpul/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIMPUL_HOST=0.0.0.0 \
    SIMPUL_DATA_DIR=/var/lib/simpul \
    SIMPUL_SERVICE_MODULE=simpul.${SERVICE_MODULE} \
    SIMPUL_SERVICE_PORT_VARIABLE=${SERVICE_PORT_VARIABLE} \
    ${SERVICE_PORT_VARIABLE}=${SERVICE_PORT}
RUN groupadd --system --gid 10001 simpul \
 && useradd --system --uid 10001 --gid simpul --home-dir /var/lib/simpul --shell /usr/sbin/nologin simpul \
 && install -d -o simpul -g simpul -m 0750 /var/lib/simpul
COPY --from=build /opt/simpul /opt/simpul
USER 10001:10001
WORKDIR /var/lib/simpul
EXPOSE ${SERVICE_PORT}
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ[os.environ['SIMPUL_SERVICE_PORT_VARIABLE']] + '/healthz', timeout=4)"]
# exec: the service is PID 1 and receives the stop signal itself.
CMD ["sh", "-c", "exec python -m \"$SIMPUL_SERVICE_MODULE\""]
