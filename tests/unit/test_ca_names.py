"""How a CA's name is kept and matched (catalogue.ca_name_key): as chains compare names
(RFC 5280 7.1, OpenSSL), blind to string types, case and spaces, never to the values."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from passkey_api.authenticators.catalogue import ca_name_key


def _name(common: str, organization: str = "Vendor", kind: _ASN1Type | None = None) -> x509.Name:
    named = (
        x509.NameAttribute(NameOID.COMMON_NAME, common, _type=kind)
        if kind is not None
        else x509.NameAttribute(NameOID.COMMON_NAME, common)
    )
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization), named])


def test_names_equal_as_a_chain_compares_them_are_one() -> None:
    key = ca_name_key(_name("Vendor Root CA"))
    for spelled in [
        _name("VENDOR ROOT CA"),
        _name("vendor  root ca"),
        _name(" Vendor Root CA "),
        _name("Vendor Root CA", kind=_ASN1Type.PrintableString),
        _name("Vendor\tRoot CA", kind=_ASN1Type.UTF8String),
    ]:
        assert ca_name_key(spelled) == key, spelled


def test_other_names_are_other_cas() -> None:
    key = ca_name_key(_name("Vendor Root CA"))
    for other in [
        _name("Vendor Root CA 2"),
        _name("Vendor Root CA", organization="Other Vendor"),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vendor Root CA")]),
        # The same values under other attributes.
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Vendor"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Vendor Root CA"),
            ]
        ),
    ]:
        assert ca_name_key(other) != key, other
