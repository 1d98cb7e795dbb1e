# syntax=docker/dockerfile:1
# One image for every process: `shop` is the entry point and the arguments pick the process
# (command-api, read-api, relay, worker, saga, provision, ...). See infra/deploy/ and ADR 0031.
# checkov:skip=CKV_DOCKER_2: no HEALTHCHECK - one image runs five processes on different ports; Kubernetes probes each (infra/deploy)

# --- build: a virtualenv with the dependencies, then the project itself ---------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/shop
# Dependencies first, in their own layer: read from pyproject.toml alone, so that a change to
# the source does not reinstall them. Every dependency ships manylinux wheels, so this stage
# needs no compiler; if one ever does not, add build-essential here, never to the final stage.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/shop/bin/pip install -r requirements.txt
COPY README.md ./
COPY domain/ domain/
COPY contract/ contract/
COPY commands/ commands/
COPY projections/ projections/
COPY streams/ streams/
COPY read_api/ read_api/
COPY security/ security/
COPY infra/ infra/
COPY notifications/ notifications/
# Not editable and without dependencies (they are in the layer above); byte-compiled now,
# because the root file system is read-only at run time.
RUN /opt/shop/bin/pip install --no-deps . \
 && /opt/shop/bin/python -m compileall -q /opt/shop/lib

# --- run: the virtualenv only, as an unprivileged user --------------------------------------
FROM python:3.11-slim-bookworm AS run
LABEL org.opencontainers.image.title="shop" \
      org.opencontainers.image.description="Event-sourced CQRS commerce platform" \
      org.opencontainers.image.licenses="MIT"
# A fixed numeric uid, so that Kubernetes' runAsNonRoot can check it without /etc/passwd.
RUN groupadd --system --gid 10001 shop \
 && useradd --system --uid 10001 --gid shop --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin shop
COPY --from=build /opt/shop /opt/shop
# Writable places only under /tmp and /var/lib/shop: the manifests mount emptyDirs there.
# The embedded stack is never used in the image: every service URL is set by the deployment.
ENV PATH=/opt/shop/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    SHOP_DATA_DIR=/var/lib/shop \
    SHOP_API_HOST=0.0.0.0 \
    SHOP_LOG_FORMAT=json
WORKDIR /var/lib/shop
USER 10001:10001
EXPOSE 8000 8001 9101 9102 9103
ENTRYPOINT ["shop"]
CMD ["--help"]
