# Build stage: a virtualenv of exactly what uv.lock pins for running the service (no dev
# tools), checked against the lock's hashes, and the project built into it as a wheel.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PYTHON=python3 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/passkey-api
WORKDIR /src
# uv itself, the version scripts/uv runs, by hash.
COPY scripts/uv-requirements.txt ./scripts/
RUN pip install --no-deps --require-hashes --target /opt/uv -r scripts/uv-requirements.txt
# The dependencies first, a layer that changes only with the lock; --locked refuses a
# uv.lock that no longer matches pyproject.toml.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --locked --no-dev --no-install-project
COPY README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN /opt/uv/bin/uv sync --locked --no-dev --no-editable

# Run stage: the virtualenv only, as an unprivileged user.
FROM python:3.11-slim
# Production mode: `serve` refuses to start without a real PASSKEY_SECRET_KEY, PostgreSQL,
# Redis and the rest of `check-config --production`.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/passkey-api/bin:$PATH \
    PASSKEY_DATA_DIR=/var/lib/passkey-api PASSKEY_ENV=production
COPY --from=build /opt/passkey-api /opt/passkey-api
RUN useradd --system --no-create-home --shell /usr/sbin/nologin passkey \
    && mkdir -p /var/lib/passkey-api && chown passkey /var/lib/passkey-api
USER passkey
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"]
# Applies pending migrations, then serves.
CMD ["passkey-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
