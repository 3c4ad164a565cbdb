"""Authenticator metadata: the FIDO Metadata Service's BLOB (MDS3) verified (blob.py),
fetched from its URL or a file (sources.py), kept in the database for every replica
(repository.py), held in memory and refreshed (service.py), and looked up by AAGUID or
attestation key identifier (catalogue.py). Below the passkeys, which it describes; it
knows nothing of accounts, and nothing here speaks HTTP to clients."""
