"""The ASGI entry point for uvicorn and other servers: `passkey_api.asgi:app`."""

from passkey_api.app import create_app

app = create_app()
