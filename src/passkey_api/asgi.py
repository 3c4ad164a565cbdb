"""The ASGI entry point for uvicorn and other servers: `passkey_api.asgi:app`.

Each worker process imports this, so logging is configured here, per process."""

from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.config.check import refusals
from passkey_api.web.observability import configure_logging

settings = Settings()
configure_logging(settings.log_format, settings.log_level.upper())
# What `serve` refuses, a server started some other way (uvicorn, gunicorn) refuses too.
_refused = refusals(settings)
if _refused:
    raise RuntimeError("refusing to serve: " + "; ".join(_refused))
app = create_app(settings)
