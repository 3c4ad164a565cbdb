# Build stage: a wheel of the project and its dependencies, with the compilers they need.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN python -m venv /opt/passkey-api \
    && /opt/passkey-api/bin/pip install .

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
