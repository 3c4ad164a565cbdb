FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY src ./src
RUN pip install . && useradd --system --home-dir /app passkey && chown passkey /app
USER passkey
EXPOSE 8000
# Applies pending migrations, then serves.
CMD ["passkey-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
