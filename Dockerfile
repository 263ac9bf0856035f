# syntax=docker/dockerfile:1
# One image for every process of the engine: the command picks the process
# (`api`, `worker`, `dispatcher`, `simulator`, `db upgrade`, `health ...`).
#
#   docker build -t campaign-engine:local .
#   docker run --rm campaign-engine:local --help

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: resolve and install the project into a self-contained virtualenv -----------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"

WORKDIR /src
# .dockerignore is an allow-list: only pyproject.toml, the README, the runtime lock and the three
# packages arrive.
COPY . .
# The dependencies exactly as locked (versions and hashes: `make lock`), then the project's wheel
# alone, WITHOUT extras (the demo's psutil and embedded servers stay out): the same install
# tests/install proves every command starts from. The venv holds the code; /src stays behind.
RUN pip install --require-hashes -r requirements/runtime.lock \
 && pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && pip install --no-deps /tmp/wheels/*.whl \
 && pip check

# --- runtime: the venv, tini and nothing that compiles ------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# tini is PID 1 so SIGTERM reaches the campaign process (Celery's warm shutdown, uvicorn's
# graceful stop) and zombies are reaped. Not `tini -g`: Celery's main process must get the
# signal alone and stop its own pool in order.
# Unpinned on purpose: the base image's Debian release fixes tini's version, and a pin would
# break the build at every Debian point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 campaign \
 && useradd --system --uid 10001 --gid campaign --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin campaign

COPY --from=builder /opt/venv /opt/venv

# ENVIRONMENT=production makes Settings refuse the development secrets: a container that is
# started without real ones stops at once instead of dialling with a published key.
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    METRICS_PORT=9100

WORKDIR /app
USER 10001:10001

# 8080 api, 8090 simulator, 9100 worker/dispatcher metrics.
EXPOSE 8080 8090 9100

# No HEALTHCHECK here: one image serves processes with different checks, so compose and
# Kubernetes declare them per process (`/healthz` for the api, `campaign health worker|dispatcher`).
ENTRYPOINT ["tini", "--", "campaign"]
CMD ["api", "--host", "0.0.0.0", "--port", "8080"]
