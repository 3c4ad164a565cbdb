"""The authenticator policy (issue 20) in a real Chromium: a person on the built-in page at /
signs up with a CDP virtual security key while the service asks for direct attestation,
verifies it against FIDO metadata (a BLOB of the test's own, tests/mds_forge.py) and
applies PASSKEY_AUTHENTICATOR_POLICY / PASSKEY_ALLOWED_AUTHENTICATORS.

What Chromium 156's virtual authenticator attests (recorded with attestation "direct",
decoded with cbor2 and cryptography; test_what_chromium_attests keeps checking it):

- protocol ctap2: fmt "packed" with alg -7, sig and an x5c of one certificate; AAGUID
  01020304-0506-0708-0102-030405060708 (Chromium's fixed test AAGUID).
- protocol u2f: fmt "fido-u2f", the all-zero AAGUID, an x5c of one certificate.
- Both certificates: subject = issuer = "C=US, O=Chromium, OU=Authenticator Attestation,
  CN=Batch Certificate", self-signed (its signature verifies with its own key), serial 1,
  notBefore 2017-07-14 02:40:00, notAfter = the moment of the registration + 20 years,
  BasicConstraints CA:false (critical), the FIDO transports extension
  (1.3.6.1.4.1.45724.2.1.1) and no AAGUID extension. Its key is the same every time
  (a constant of Chromium's), so a U2F registration's key identifier is always
  de9dd16faf6d87f03bdcb5c1b70d11213801997e; but the certificate is made afresh at each
  registration (another notAfter, another ECDSA signature), so no two are the same bytes.

So no root the test can name before a registration makes that registration's chain
verify: the chain is the self-signed certificate alone, and OpenSSL (py_webauthn checks
chains with pyOpenSSL's X509Store) trusts a self-signed leaf only when that very
certificate is in the store. An earlier registration's certificate, with the same name
and the same key, is refused ("self-signed certificate"); test_what_chromium_attests shows
it with py_webauthn's own validate_certificate_chain. Nor do the CDP options
(WebAuthn.VirtualAuthenticatorOptions) let a test give the authenticator a certificate.
Under `attested`, or an allow-list (which also needs a verified chain), every Chromium
virtual authenticator is therefore refused, whatever the metadata says.

What the tests cover, on both backends, with a BLOB whose entries name Chromium's AAGUID
and its U2F key identifier, each with the certificate Chromium presented in a probe
registration as the root, and a test vendor's model (VENDOR_KEY) under the vendor's root:

- `attested`, and an allow-list naming Chromium's own AAGUID: the person's sign-up with
  the virtual security key (ctap2, and a U2F-only one) is refused on the page in words,
  nothing is written (no user row), and the same person then tries again with a key the
  policy accepts and gets an account, signs out and in with it; adding Chromium's key as
  a second passkey is then refused in the account alike. That accepted key cannot be a
  Chromium one (above): it is tests/softauthn.py's authenticator, attesting packed with a
  certificate the vendor's root issued for VENDOR_KEY, answering the page's modal
  navigator.credentials calls through an injected shim (SOFT_KEY). Everything else (the
  page, its JSON, the service) is as in production.
- `any` with attestation direct: Chromium's security key and U2F key register, stored as
  packed / fido-u2f, basic attestation, not verified (with the AAGUID, or the U2F key
  identifier), and sign in afterwards.

Screenshots go to artifacts/e2e/attestation/, named by backend.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import httpx
import pytest
from cryptography import x509
from playwright.async_api import Browser, Page, expect
from sqlalchemy import text
from webauthn.helpers import validate_certificate_chain
from webauthn.helpers.exceptions import InvalidCertificateChain

from passkey_api.storage.db import create_engine
from tests import mds_forge as forge
from tests.e2e.harness import ARTIFACTS, Server, Tab, open_tab, serve
from tests.e2e.test_browser_passkeys import new_username
from tests.e2e.test_console import sign_in_with_username, sign_up, view
from tests.services import REDIS_URL, postgres_database, require_redis
from tests.softauthn import SoftAuthenticator

pytestmark = pytest.mark.e2e

SHOTS = ARTIFACTS / "attestation"
CHROMIUM_AAGUID = uuid.UUID("01020304-0506-0708-0102-030405060708")
CHROMIUM_KEY_IDENTIFIER = "de9dd16faf6d87f03bdcb5c1b70d11213801997e"
CHROMIUM_NAME = "C=US,O=Chromium,OU=Authenticator Attestation,CN=Batch Certificate"
VENDOR_KEY = uuid.UUID("5e1ec7ed-0b0e-4c1a-9d2e-000000000001")
# The page's words for authenticator_not_allowed (static/index.html, WORDS).
REFUSAL = "This service accepts only certain security keys, and this one is not among them"
NOT_ALLOWED = "authenticator_not_allowed"
# A virtual security key in a probe: a page the test answers itself, at an origin that is
# a secure context (localhost) where nothing listens.
PROBE_ORIGIN = "http://localhost:9"
PROBE = """async (protocol) => {
  const credential = await navigator.credentials.create({publicKey: {
    rp: {id: "localhost", name: "probe"},
    user: {id: new Uint8Array(16), name: "probe", displayName: "probe"},
    challenge: new Uint8Array(32),
    pubKeyCredParams: [{type: "public-key", alg: -7}],
    attestation: "direct",
    authenticatorSelection: {residentKey: "discouraged", userVerification: "discouraged"},
  }});
  return credential.toJSON().response.attestationObject;
}"""

# Lets tests/softauthn.py answer the page's modal navigator.credentials calls while
# window.__softKey is true (a security key of the test's own plugged in); otherwise, and
# for the page's autofill request, Chromium's own (virtual) authenticators answer.
SOFT_KEY = """
(() => {
  const asked = new WeakMap();
  for (const parser of ["parseCreationOptionsFromJSON", "parseRequestOptionsFromJSON"]) {
    const original = PublicKeyCredential[parser].bind(PublicKeyCredential);
    PublicKeyCredential[parser] = (json) => {
      const options = original(json);
      asked.set(options, json);
      return options;
    };
  }
  window.__softKey = false;
  for (const kind of ["create", "get"]) {
    const original = navigator.credentials[kind].bind(navigator.credentials);
    navigator.credentials[kind] = async (options) => {
      const json = options && options.publicKey && asked.get(options.publicKey);
      if (!window.__softKey || !json || options.mediation === "conditional") {
        return original(options);
      }
      const answer = await window.__softAuthenticator(kind, json, location.origin);
      if (answer.error) throw new DOMException(answer.error, answer.error);
      return {type: "public-key", id: answer.credential.id, toJSON: () => answer.credential};
    };
  }
})();
"""


# --- what Chromium's virtual authenticator attests --------------------------------------


@dataclass(frozen=True)
class Attestation:
    fmt: str
    aaguid: uuid.UUID
    x5c: list[bytes]

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.x5c[0])


async def probe(browser: Browser, protocol: str) -> Attestation:
    """One registration by a fresh virtual authenticator of `protocol`, asking direct."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.route(
            PROBE_ORIGIN + "/**",
            lambda route: route.fulfill(body="<!doctype html><title>probe</title>"),
        )
        cdp = await context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable", {"enableUI": False})
        options = {
            "protocol": protocol,
            "transport": "usb",
            "hasResidentKey": False,
            "hasUserVerification": False,
            "automaticPresenceSimulation": True,
        }
        await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})
        await page.goto(PROBE_ORIGIN + "/")
        encoded = await page.evaluate(PROBE, protocol)
    finally:
        await context.close()
    decoded = cbor2.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    auth_data: bytes = decoded["authData"]
    return Attestation(
        fmt=decoded["fmt"],
        aaguid=uuid.UUID(bytes=auth_data[37:53]),
        x5c=list(decoded["attStmt"].get("x5c", [])),
    )


@dataclass(frozen=True)
class Probed:
    """Chromium's attestation certificates from one registration each (ctap2, u2f)."""

    packed: Attestation
    u2f: Attestation


@pytest.fixture(scope="module")
async def probed(browser: Browser) -> Probed:
    return Probed(packed=await probe(browser, "ctap2"), u2f=await probe(browser, "u2f"))


def pem(der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


async def test_what_chromium_attests(browser: Browser, probed: Probed) -> None:
    """The docstring's findings: packed (ctap2) and fido-u2f (u2f), one self-signed
    certificate with Chromium's constant key, made afresh for every registration, so that
    a root naming one registration's certificate does not verify the next one's."""
    assert probed.packed.fmt == "packed"
    assert probed.packed.aaguid == CHROMIUM_AAGUID
    assert probed.u2f.fmt == "fido-u2f"
    assert probed.u2f.aaguid.int == 0
    for attestation in (probed.packed, probed.u2f):
        assert len(attestation.x5c) == 1
        certificate = attestation.certificate
        assert certificate.subject == certificate.issuer
        assert certificate.subject.rfc4514_string() == ",".join(reversed(CHROMIUM_NAME.split(",")))
        certificate.verify_directly_issued_by(certificate)  # self-signed
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.value.ca is False
        with pytest.raises(x509.ExtensionNotFound):
            certificate.extensions.get_extension_for_oid(forge.AAGUID_EXTENSION)
        assert forge.key_identifier(certificate).hex() == CHROMIUM_KEY_IDENTIFIER

    await asyncio.sleep(1.1)  # notAfter has whole seconds
    again = await probe(browser, "ctap2")
    assert again.x5c[0] != probed.packed.x5c[0]
    assert again.certificate.public_key() == probed.packed.certificate.public_key()
    # The very certificate is trusted as a root; the same name and key a second earlier
    # is not.
    assert validate_certificate_chain(x5c=again.x5c, pem_root_certs_bytes=[pem(again.x5c[0])])
    with pytest.raises(InvalidCertificateChain):
        validate_certificate_chain(x5c=again.x5c, pem_root_certs_bytes=[pem(probed.packed.x5c[0])])


# --- the metadata and the services ------------------------------------------------------


@dataclass
class Metadata:
    """The test's metadata service PKI, a vendor whose model the policy accepts, and a
    BLOB listing it and Chromium's virtual authenticators (their roots: the certificates
    the probe registrations presented)."""

    folder: Path
    probed: Probed
    mds: forge.MdsPki = field(default_factory=forge.MdsPki.build)
    vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)

    def __post_init__(self) -> None:
        entries = [
            forge.entry(aaguid=VENDOR_KEY, description="Vendor Key", roots=[self.vendor.root.der]),
            forge.entry(
                aaguid=CHROMIUM_AAGUID,
                description="Chromium Virtual Key",
                roots=self.probed.packed.x5c[:1],
            ),
            forge.entry(
                key_identifiers=[bytes.fromhex(CHROMIUM_KEY_IDENTIFIER)],
                description="Chromium Virtual U2F Key",
                roots=self.probed.u2f.x5c[:1],
            ),
        ]
        (self.folder / "mds-root.pem").write_bytes(self.mds.root.pem)
        (self.folder / "blob.jwt").write_bytes(forge.sign_blob(forge.payload(1, entries), self.mds))

    def settings(self, policy: str, allowed: list[str] | None = None) -> dict[str, str]:
        return {
            "PASSKEY_MDS": "true",
            "PASSKEY_MDS_FILE": str(self.folder / "blob.jwt"),
            "PASSKEY_MDS_ROOT": str(self.folder / "mds-root.pem"),
            "PASSKEY_MDS_SIGNER": forge.SIGNER,
            "PASSKEY_ATTESTATION": "direct",
            "PASSKEY_AUTHENTICATOR_POLICY": policy,
            "PASSKEY_ALLOWED_AUTHENTICATORS": ",".join(allowed or []),
        }

    def vendor_key(self) -> SoftAuthenticator:
        """A security key of VENDOR_KEY's model: packed, with a certificate the vendor's
        root issued for that AAGUID."""
        return forge.attesting_key(
            self.vendor.attestation_certificate(VENDOR_KEY), "packed", VENDOR_KEY
        )


@pytest.fixture(scope="module")
def metadata(tmp_path_factory: pytest.TempPathFactory, probed: Probed) -> Metadata:
    return Metadata(tmp_path_factory.mktemp("attestation-mds"), probed)


# PASSKEY_AUTHENTICATOR_POLICY and PASSKEY_ALLOWED_AUTHENTICATORS of each service.
POLICIES: dict[str, tuple[str, list[str]]] = {
    "attested": ("attested", []),
    # The organisation's list names Chromium's own AAGUID: a claim, not a proof.
    "allow-list": ("any", [str(CHROMIUM_AAGUID), str(VENDOR_KEY)]),
    "any": ("any", []),
}

Serve = Callable[[str], contextlib.AbstractAsyncContextManager[Server]]


@pytest.fixture(scope="module", params=["embedded", "postgres"])
async def services(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    metadata: Metadata,
) -> AsyncIterator[dict[str, Server]]:
    """One service per policy, each with its own database, on the backend."""
    backend: str = request.param
    if backend == "postgres":
        await require_redis()
    async with contextlib.AsyncExitStack() as stack:
        running: dict[str, Server] = {}
        for name, (policy, allowed) in POLICIES.items():
            env = metadata.settings(policy, allowed)
            if backend == "postgres":
                database_url = await stack.enter_async_context(postgres_database("passkey_att"))
                env |= {"PASSKEY_DATABASE_URL": database_url, "PASSKEY_REDIS_URL": REDIS_URL}
            data_dir = tmp_path_factory.mktemp(f"attestation-{backend}-{name}")
            server = await stack.enter_async_context(serve(backend, data_dir, env))
            await metadata_loaded(server)
            running[name] = server
        yield running


async def metadata_loaded(server: Server) -> None:
    """The service reads the BLOB file in its housekeeping task, just after start-up."""
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as client:
        for _ in range(100):
            details = (await client.get("/readyz")).json().get("details", {})
            if details.get("authenticator_metadata", {}).get("no") == 1:
                return
            await asyncio.sleep(0.1)
    pytest.fail(f"the metadata was not loaded; the log:\n{server.log()}", pytrace=False)


# --- the browser side -------------------------------------------------------------------


@dataclass
class Person:
    tab: Tab
    shots: str
    soft_key: SoftAuthenticator | None = None

    @property
    def page(self) -> Page:
        return self.tab.page

    async def plug_virtual(self, kind: str) -> None:
        """Chromium's virtual authenticator of `kind` (harness.AUTHENTICATORS), alone."""
        await self.unplug_soft_key()
        await self.tab.add_authenticator(kind)

    async def plug_soft_key(self, key: SoftAuthenticator) -> None:
        await self.tab.remove_authenticator()
        self.soft_key = key
        await self.page.evaluate("() => { window.__softKey = true; }")

    async def unplug_soft_key(self) -> None:
        await self.page.evaluate("() => { window.__softKey = false; }")

    def answer(self, kind: str, options: dict[str, Any], origin: str) -> dict[str, Any]:
        assert self.soft_key is not None
        try:
            if kind == "create":
                return {"credential": self.soft_key.create(options, origin=origin)}
            return {"credential": self.soft_key.get(options, origin=origin)}
        except ValueError as exc:
            return {"error": str(exc)}

    async def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SHOTS / f"{self.shots}-{name}.png", full_page=True)


@contextlib.asynccontextmanager
async def person(server: Server, browser: Browser, shots: str) -> AsyncIterator[Person]:
    async with open_tab(server, browser) as tab:
        someone = Person(tab, shots=f"{server.backend}-{shots}")
        await tab.context.add_init_script(SOFT_KEY)

        async def answer(kind: str, options: dict[str, Any], origin: str) -> dict[str, Any]:
            return someone.answer(kind, options, origin)

        await tab.context.expose_function("__softAuthenticator", answer)
        await tab.page.set_viewport_size({"width": 900, "height": 900})
        yield someone


# --- what the service stored --------------------------------------------------------------


async def query(server: Server, sql: str, **values: Any) -> list[dict[str, Any]]:
    assert server.database_url is not None
    engine = create_engine(server.database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text(sql), values)
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def users_named(server: Server, username: str) -> int:
    rows = await query(
        server, "SELECT count(*) AS n FROM users WHERE username = :name", name=username
    )
    return int(rows[0]["n"])


async def stored_passkeys(server: Server, username: str) -> list[dict[str, Any]]:
    rows = await query(
        server,
        "SELECT p.attestation_format AS format, p.attestation_type AS type, "
        "p.attestation_verified AS verified, p.attestation_key_identifier AS key_identifier, "
        "p.aaguid AS aaguid FROM passkeys p JOIN users u ON u.id = p.user_id "
        "WHERE u.username = :name",
        name=username,
    )
    for row in rows:
        row["verified"] = bool(row["verified"])
        row["aaguid"] = str(uuid.UUID(str(row["aaguid"]))) if row["aaguid"] else None
    return rows


async def refused(someone: Person, username: str) -> None:
    """The sign-up was refused on the page, in words and with the code, and nothing of
    it was written."""
    notice = someone.page.locator("#signup-notice")
    await expect(notice).to_contain_text(REFUSAL)
    await expect(notice).to_contain_text(f"Code: {NOT_ALLOWED}")
    await view(someone.page, "signed-out")
    assert await users_named(someone.tab.server, username) == 0


# --- the policy refuses Chromium's keys; an accepted key registers -------------------------


@pytest.mark.parametrize("policy", ["attested", "allow-list"])
async def test_refused_then_an_accepted_key_registers(
    services: dict[str, Server], browser: Browser, metadata: Metadata, policy: str
) -> None:
    """Chromium's virtual security key and U2F key are refused on the page (their chain
    cannot verify, see above), nothing is written; the person tries again with an
    accepted key, gets an account, signs out and signs in with it."""
    server = services[policy]
    async with person(server, browser, policy) as someone:
        page = someone.page
        await someone.plug_virtual("usb")
        await someone.tab.open()
        username = new_username("ines")
        await page.fill("#username", username)
        await page.fill("#display-name", "Inès Moreau")
        await page.click("#signup")
        await refused(someone, username)
        await someone.shot("01-refused-security-key")
        # The operator's log names the model and why (authenticators/policy.py).
        assert (
            f"refused by the authenticator policy: model {CHROMIUM_AAGUID} (basic), "
            "chain not verified"
        ) in server.log()
        refusal = await page.locator("#signup-notice").text_content() or ""
        assert refusal.index(REFUSAL) < refusal.index(NOT_ALLOWED)  # words first

        # An old U2F key: refused too (its key identifier is listed, its chain unproven).
        await someone.plug_virtual("u2f")
        assert await page.input_value("#username") == username  # kept for another try
        await page.click("#signup")
        await refused(someone, username)

        # The organisation's key: the sign-up goes through.
        await someone.plug_soft_key(metadata.vendor_key())
        await page.click("#signup")
        await view(page, "account")
        await expect(page.locator("#who-username")).to_have_text(username)
        await expect(page.locator("#passkeys > li")).to_have_count(1)
        await someone.shot("02-accepted-key")
        assert await stored_passkeys(server, username) == [
            {
                "format": "packed",
                "type": "basic",
                "verified": True,
                "key_identifier": None,
                "aaguid": str(VENDOR_KEY),
            }
        ]
        assert await users_named(server, username) == 1

        await page.click("#signout")
        await view(page, "signed-out")
        await sign_in_with_username(page, username)
        await expect(page.locator("#who")).to_have_text("Inès Moreau")

        # Signed in, adding Chromium's security key as a second passkey: refused alike.
        await someone.plug_virtual("usb")
        await page.click("#add-security-key")
        notice = page.locator("#passkeys-notice")
        await expect(notice).to_contain_text(REFUSAL)
        await expect(notice).to_contain_text(f"Code: {NOT_ALLOWED}")
        await expect(page.locator("#passkeys > li")).to_have_count(1)
        await someone.shot("03-refused-second-key")
        assert len(await stored_passkeys(server, username)) == 1


# --- policy any: Chromium's keys register, not verified ------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "usb",
            {
                "format": "packed",
                "type": "basic",
                "verified": False,
                "key_identifier": None,
                "aaguid": str(CHROMIUM_AAGUID),
            },
        ),
        (
            "u2f",
            {
                "format": "fido-u2f",
                "type": "basic",
                "verified": False,
                "key_identifier": CHROMIUM_KEY_IDENTIFIER,
                "aaguid": "00000000-0000-0000-0000-000000000000",
            },
        ),
    ],
)
async def test_any_registers_chromium_keys_unverified(
    services: dict[str, Server], browser: Browser, kind: str, expected: dict[str, Any]
) -> None:
    """Under `any` with attestation direct, Chromium's keys register: the attestation is
    read and stored (its model found in the metadata), its chain not verified; the key
    then signs in."""
    server = services["any"]
    async with person(server, browser, f"any-{kind}") as someone:
        page = someone.page
        await someone.plug_virtual(kind)
        await someone.tab.open()
        username = new_username("jonas")
        await sign_up(page, username, "Jonas Berg")
        await expect(page.locator("#passkeys > li")).to_have_count(1)
        await someone.shot("01-signed-up")
        assert await stored_passkeys(server, username) == [expected]

        await page.click("#signout")
        await view(page, "signed-out")
        await sign_in_with_username(page, username)
        await expect(page.locator("#who")).to_have_text("Jonas Berg")
