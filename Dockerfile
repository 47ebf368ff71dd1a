# syntax=docker/dockerfile:1.7
# One image per Kith service, built from the repository root with the service's name:
#   docker build --build-arg SERVICE=ingest -t kith/ingest:0.1.0 .
#   (SERVICE: ingest, scoring, recommend or console)
# Only kith-shared, the service and their runtime dependencies go in: the development kit (the
# embedded servers, the generator, the test tools) is never a dependency of either.
# Python 3.11 on Debian bookworm, slim. Pin the digest too where your registry policy asks for it:
#   python:3.11.14-slim-bookworm@sha256:<digest from `docker buildx imagetools inspect`>
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: wheels of shared, the service and their pinned third-party dependencies ---------------------
FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=ingest|scoring|recommend|console" >&2; exit 1; }
WORKDIR /src
COPY constraints.txt LICENSE ./
COPY shared/ ./shared/
COPY services/${SERVICE}/ ./services/${SERVICE}/
RUN python -m pip wheel --wheel-dir /wheels --constraint constraints.txt ./shared "./services/${SERVICE}"

# --- runtime: the wheels installed into a clean slim image, run as an unprivileged user -----------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    KITH_SERVICE=${SERVICE}
RUN groupadd --system --gid 10001 kith \
 && useradd --system --uid 10001 --gid kith --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kith
# Every wheel was resolved in the build stage (a closed set), so nothing is fetched here.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip install --no-index --no-deps /wheels/*.whl \
 && python -m pip uninstall --yes pip setuptools wheel
# The command serves kith_${SERVICE} on every interface (unless <SERVICE>_HOST says otherwise), on the
# port of its settings: <SERVICE>_PORT, by default 8001 (ingest), 8002 (scoring), 8003 (recommend) or
# 8004 (console);
# docker-compose.yml and deploy/k8s publish it.
COPY --chmod=755 deploy/docker/entrypoint.py /usr/local/bin/kith-service
USER 10001:10001
WORKDIR /app
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD ["kith-service", "--check"]
CMD ["kith-service"]
