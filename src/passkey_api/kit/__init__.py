"""Small pure helpers with no I/O, shared by every layer: strict decoders of client input
(base64url, CBOR, COSE keys), session tokens, text rules, derived keys, client details,
and the metrics registry."""
