"""passkey-api: a WebAuthn relying party that signs users in with passkeys."""

__version__ = "0.1.0"
