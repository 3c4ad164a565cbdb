"""The ASGI entry point for uvicorn and other servers: `passkey_api.asgi:app`.

Each worker process imports this, so logging is configured here, per process."""

import logging
import os

from passkey_api.app import create_app
from passkey_api.config import Settings
from passkey_api.config.check import refusals, unknown_variables
from passkey_api.storage import metric_files
from passkey_api.web.observability import configure_logging

settings = Settings()
configure_logging(settings.log_format, settings.log_level.upper())
metric_files.worker_started()
for _problem in unknown_variables(os.environ):
    logging.getLogger(__name__).warning(_problem)
# What `serve` refuses, a server started some other way (uvicorn, gunicorn) refuses too.
_refused = refusals(settings)
if _refused:
    raise RuntimeError("refusing to serve: " + "; ".join(_refused))
app = create_app(settings)
