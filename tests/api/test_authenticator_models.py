"""What the authenticator metadata tells about stored passkeys, on both backends: the
model's name and icon in the passkey list (and the admin API's), what the attestation
proved, a model reported compromised; PASSKEY_COMPROMISED_AUTHENTICATORS=refuse at
sign-in and step-up (after the signature, writing no session); and the audit event a
refresh writes, once, when it changes what is reported of a model some passkeys use.
The BLOBs are the test's own (tests/mds_forge.py), read from a file."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, delete, select

from passkey_api import cli
from passkey_api.config import Settings
from passkey_api.storage.models import AuditEvent, AuthenticatorMetadata
from tests import mds_forge as forge
from tests.api.conftest import ORIGIN, Api, ApiFactory, problem_code
from tests.softauthn import SoftAuthenticator, tamper

# The tests make each metadata pass themselves, on a database with none stored.
pytestmark = pytest.mark.usefixtures("metadata_by_hand", "no_stored_metadata")

KEY_A = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a01")
SHAKY = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a02")
# In data/aaguid.json (Apple Passwords), and not in the test metadata.
APPLE = uuid.UUID("fbfc3007-154e-4ecc-8c0b-6e020557d7bd")
ICON_A = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE="
ICON_SHAKY = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAI="
# Two models of one maker whose entries list the same root (as Windows Hello's do
# Microsoft's): an attestation certificate naming no AAGUID proves only "one of them".
HELLO = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a03")
HELLO_SIBLING = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a04")
# A model of the same maker that the metadata lists only from some version on.
HELLO_LATE = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a05")
# A revoked model under another maker's root (World.far_vendor), and a model whose entry
# lists a cross certificate of Hello's root issued by that root (`bridge`).
FAR_REVOKED = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a06")
BRIDGE = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a07")
# A model listing an intermediate CA and its root (World.anchor_ca, anchor_root), and
# another listing the root alone.
ANCHOR_A = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a08")
ANCHOR_B = uuid.UUID("5d1a1e0c-3b7e-4f51-8d0a-6b2c9e4f7a09")
BYPASS = forge.status_report("USER_VERIFICATION_BYPASS", date(2025, 3, 1))
COMPROMISED = "authenticator_compromised"


@pytest.fixture
def fast_paths() -> bool:
    """What is shown and refused is decided below the HTTP edge: one way is enough."""
    return True


@dataclass
class World:
    """The metadata's PKI, a vendor's attestation PKI, and BLOBs (a new `no` each time)
    listing two models of the vendor and a U2F key, with the reports of the test's
    choosing."""

    folder: Path
    mds: forge.MdsPki = field(default_factory=forge.MdsPki.build)
    vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    # The maker of HELLO and HELLO_SIBLING, and a certificate it issued naming no AAGUID.
    hello_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    u2f_certificate: forge.Issued = field(init=False)
    hello_certificate: forge.Issued = field(init=False)
    far_vendor: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    anchor_root: forge.AttestationPki = field(default_factory=forge.AttestationPki)
    anchor_ca: forge.AttestationPki = field(init=False)
    number: int = 0

    def __post_init__(self) -> None:
        self.u2f_certificate = self.vendor.attestation_certificate()
        self.hello_certificate = self.hello_vendor.attestation_certificate()
        self.anchor_ca = forge.AttestationPki(
            forge.issue(
                forge.name_of(f"Anchor CA {uuid.uuid4().hex[:8]}"),
                issuer=self.anchor_root.root,
                ca=True,
            )
        )
        (self.folder / "mds-root.pem").write_bytes(self.mds.root.pem)

    def publish(
        self,
        *,
        shaky: list[dict[str, Any]] | None = None,
        u2f: list[dict[str, Any]] | None = None,
        sibling: list[dict[str, Any]] | None = None,
        late: list[dict[str, Any]] | None = None,
        bridge: bool = False,
        anchor_ca_listed: bool = True,
        anchor_b: list[dict[str, Any]] | None = None,
        uaf: list[dict[str, Any]] | None = None,
        far: bool = True,
    ) -> int:
        """A new BLOB: `shaky`, `u2f` and `sibling` are status reports added to those
        models' certification; `late` lists HELLO_LATE, with those reports; `bridge`
        lists BRIDGE; ANCHOR_A lists the intermediate CA unless not `anchor_ca_listed`;
        `anchor_b`: ANCHOR_B's reports; `uaf` lists a UAF authenticator (named by neither
        AAGUID nor key identifier) under Hello's root, with those reports; FAR_REVOKED
        unless not `far`."""
        self.number += 1
        root = [self.vendor.root.der]
        certified = [forge.status_report("FIDO_CERTIFIED_L1", date(2024, 1, 1))]
        entries = [
            forge.entry(aaguid=KEY_A, description="Test Key A", roots=root, icon=ICON_A),
            forge.entry(
                aaguid=SHAKY,
                description="Shaky Key",
                roots=root,
                icon=ICON_SHAKY,
                status_reports=[*certified, *(shaky or [])],
            ),
            forge.entry(
                key_identifiers=[forge.key_identifier(self.u2f_certificate.certificate)],
                description="Test U2F Key",
                roots=root,
                status_reports=[*certified, *(u2f or [])],
            ),
            forge.entry(
                aaguid=HELLO,
                description="Hello Key",
                roots=[self.hello_vendor.root.der],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=HELLO_SIBLING,
                description="Hello Sibling Key",
                roots=[self.hello_vendor.root.der],
                status_reports=[*certified, *(sibling or [])],
            ),
            *(
                [
                    forge.entry(
                        aaguid=HELLO_LATE,
                        description="Hello Late Key",
                        roots=[self.hello_vendor.root.der],
                        status_reports=[*certified, *late],
                    )
                ]
                if late is not None
                else []
            ),
            forge.entry(
                aaguid=ANCHOR_A,
                description="Anchor Key A",
                roots=[
                    *([self.anchor_ca.root.der] if anchor_ca_listed else []),
                    self.anchor_root.root.der,
                ],
                status_reports=certified,
            ),
            forge.entry(
                aaguid=ANCHOR_B,
                description="Anchor Key B",
                roots=[self.anchor_root.root.der],
                status_reports=[*certified, *(anchor_b or [])],
            ),
            *(
                [
                    forge.entry(
                        aaid="ABCD#0001",
                        description="Hello UAF Authenticator",
                        roots=[self.hello_vendor.root.der],
                        status_reports=[*certified, *uaf],
                    )
                ]
                if uaf is not None
                else []
            ),
            *(
                [
                    forge.entry(
                        aaguid=FAR_REVOKED,
                        description="Far Revoked Key",
                        roots=[self.far_vendor.root.der],
                        status_reports=[
                            *certified,
                            forge.status_report("REVOKED", date(2025, 2, 1)),
                        ],
                    )
                ]
                if far
                else []
            ),
            *(
                [
                    forge.entry(
                        aaguid=BRIDGE,
                        description="Bridge Key",
                        roots=[
                            forge.issue(
                                self.hello_vendor.root.certificate.subject,
                                issuer=self.far_vendor.root,
                                ca=True,
                                key=self.hello_vendor.root.key,
                            ).der
                        ],
                        status_reports=certified,
                    )
                ]
                if bridge
                else []
            ),
        ]
        token = forge.sign_blob(forge.payload(self.number, entries), self.mds)
        (self.folder / "blob.jwt").write_bytes(token)
        return self.number

    async def api(self, make_api: ApiFactory, **settings: Any) -> Api:
        """An app with the metadata on (loaded: the newest stored, or the file's),
        attestation `direct`, and `settings`."""
        api = await make_api(**(forge.metadata_settings(self.folder) | settings))
        if api.resources.metadata.catalogue is None:
            await self.refresh(api)
        return api

    async def refresh(self, api: Api) -> None:
        async with api.resources.sessionmaker() as db:
            attempt = await api.resources.metadata.refresh(db, datetime.now(UTC))
        assert attempt.updated, attempt.message

    def packed(self, aaguid: uuid.UUID) -> SoftAuthenticator:
        return forge.attesting_key(self.vendor.attestation_certificate(aaguid), "packed", aaguid)

    def u2f(self) -> SoftAuthenticator:
        return forge.attesting_key(self.u2f_certificate, "fido-u2f")

    def hello(self) -> SoftAuthenticator:
        """A key claiming HELLO, attesting with a certificate that names no AAGUID."""
        return forge.attesting_key(self.hello_certificate, "packed", HELLO)


security_key = forge.security_key


@pytest.fixture
def world(tmp_path: Path) -> World:
    found = World(tmp_path)
    found.publish()
    return found


async def passkeys(api: Api) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/me/passkeys")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["passkeys"]
    return found


async def signed_up(api: Api, key: SoftAuthenticator, username: str | None = None) -> str:
    """Sign up (the client is then signed in as them); the user's id."""
    response = await api.sign_up(key, username)
    assert response.status_code == 201, response.text
    return str(response.json()["user"]["id"])


async def count(api: Api, table: str) -> int:
    return int(await api.scalar(f"SELECT count(*) FROM {table}"))  # noqa: S608


async def reported_events(api: Api) -> list[dict[str, Any]]:
    """The authenticator_reported events (no client, no actor: the housekeeping's)."""
    found = []
    for event in await audit_events(api, "authenticator_reported"):
        assert event.success
        assert event.actor_id is None
        assert event.ip is None
        found.append({"user_id": str(event.user_id), **event.details})
    return found


async def audit_events(api: Api, name: str) -> list[AuditEvent]:
    async with api.resources.sessionmaker() as db:
        result = await db.exec(
            select(AuditEvent).where(AuditEvent.event == name).order_by(col(AuditEvent.at))
        )
        return list(result.all())


# --- what users see ---------------------------------------------------------------------


async def test_the_list_names_the_model_from_the_metadata_with_its_icon(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api)
    await signed_up(api, world.packed(KEY_A))
    # The same account's synced passkey of a provider only the AAGUID list knows.
    synced = SoftAuthenticator(aaguid=APPLE.bytes, backup_eligible=True, backup_state=True)
    added = await api.add_passkey(synced)
    assert added.status_code == 201, added.text
    # Answered with its model already.
    assert added.json()["provider"]["name"] == "Apple Passwords"
    key_a, apple = await passkeys(api)
    assert key_a["provider"] == {"name": "Test Key A", "icon_light": ICON_A, "icon_dark": ICON_A}
    assert key_a["attestation"] == {
        "type": "basic",
        "verified": True,
        "model": "Test Key A",
        "could_also_be": [],
    }
    assert key_a["compromised"] is None
    # Not in the metadata: the AAGUID list names it, with its icons, as before.
    assert apple["provider"]["name"] == "Apple Passwords"
    assert apple["provider"]["icon_light"].startswith("data:image/svg+xml")
    assert apple["attestation"] == {
        "type": "none",
        "verified": False,
        "model": None,
        "could_also_be": [],
    }
    assert apple["compromised"] is None


async def test_without_metadata_the_list_is_as_before(make_api: ApiFactory, world: World) -> None:
    api = await make_api()
    assert not api.settings.mds
    await signed_up(api, world.packed(KEY_A))
    await api.add_passkey(SoftAuthenticator(aaguid=APPLE.bytes))
    key_a, apple = await passkeys(api)
    # Unknown to the AAGUID list: named from its transports, as before.
    assert key_a["provider"] == {"name": "Security key", "icon_light": None, "icon_dark": None}
    # The statement is what it is; nothing was verified or looked up.
    assert key_a["attestation"] == {
        "type": "basic",
        "verified": False,
        "model": None,
        "could_also_be": [],
    }
    assert apple["provider"]["name"] == "Apple Passwords"
    assert apple["attestation"] == {
        "type": "none",
        "verified": False,
        "model": None,
        "could_also_be": [],
    }
    assert key_a["compromised"] is None
    assert apple["compromised"] is None
    # Only the new fields are new.
    assert set(key_a) == {
        "id",
        "name",
        "created_at",
        "last_used_at",
        "transports",
        "discoverable",
        "backup_eligible",
        "backup_state",
        "device_type",
        "aaguid",
        "provider",
        "attestation",
        "compromised",
    }


async def test_attestation_fields_self_and_none(make_api: ApiFactory, world: World) -> None:
    api = await world.api(make_api)
    await signed_up(api, security_key(aaguid=KEY_A.bytes, attestation="packed"))
    assert (await api.add_passkey(security_key(aaguid=KEY_A.bytes))).status_code == 201
    assert (await api.add_passkey(world.u2f())).status_code == 201
    own, none, u2f = await passkeys(api)
    # The model named is what the authenticator claims: not proven (verified false).
    assert own["attestation"] == {
        "type": "self",
        "verified": False,
        "model": "Test Key A",
        "could_also_be": [],
    }
    assert none["attestation"] == {
        "type": "none",
        "verified": False,
        "model": "Test Key A",
        "could_also_be": [],
    }
    # A U2F key is found by its attestation certificate's key identifier.
    assert u2f["attestation"] == {
        "type": "basic",
        "verified": True,
        "model": "Test U2F Key",
        "could_also_be": [],
    }
    assert u2f["provider"]["name"] == "Test U2F Key"


async def test_a_model_reported_compromised_shows_in_the_list_and_the_admin_api(
    make_api: ApiFactory, world: World
) -> None:
    world.publish(shaky=[BYPASS])
    api = await world.api(make_api)
    user_id = await signed_up(api, world.packed(SHAKY))
    assert (await api.add_passkey(world.packed(KEY_A))).status_code == 201
    shaky, fine = await passkeys(api)
    assert shaky["compromised"] == {
        "status": "USER_VERIFICATION_BYPASS",
        "since": "2025-03-01",
        "scope": "model",
        "detail": 'The FIDO Metadata Service reports "Shaky Key": its PIN or fingerprint '
        "check can be bypassed (since 2025-03-01).",
    }
    assert fine["compromised"] is None

    api.client.cookies.clear()
    admin = SoftAuthenticator()
    assert (await api.sign_up(admin, "root-admin")).status_code == 201
    assert await cli._create_admin(api.settings, "root-admin") == 0
    listed = await api.client.get(f"/v1/admin/users/{user_id}/passkeys")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["compromised"] == 1
    assert [p["compromised"] for p in body["passkeys"]] == [shaky["compromised"], None]
    assert body["passkeys"][0]["provider"]["name"] == "Shaky Key"
    missing = await api.client.get(f"/v1/admin/users/{uuid.uuid4()}/passkeys")
    assert (missing.status_code, problem_code(missing)) == (404, "not_found")
    bad = await api.client.get("/v1/admin/users/not-a-uuid/passkeys")
    assert bad.status_code == 422
    assert problem_code(bad) == "validation_error"


async def test_a_report_naming_an_attestation_certificate(
    make_api: ApiFactory, world: World
) -> None:
    """A U2F passkey stores its attestation certificate's key identifier: a report
    naming that certificate is its own (scope certificate), one naming another of the
    model's is not; one naming a CA (which certificates chain to it is not stored) is
    taken as the whole model's. An AAGUID passkey stores no certificate: any named
    certificate is taken as the whole model's."""

    def naming(der: bytes) -> list[dict[str, Any]]:
        return [
            forge.status_report(
                "ATTESTATION_KEY_COMPROMISE",
                date(2025, 5, 1),
                certificate=base64.b64encode(der).decode(),
            )
        ]

    other = world.vendor.attestation_certificate()
    world.publish(u2f=naming(other.der), shaky=naming(other.der))
    api = await world.api(make_api)
    await signed_up(api, world.u2f())
    assert (await api.add_passkey(world.packed(SHAKY))).status_code == 201
    u2f, shaky = await passkeys(api)
    assert u2f["compromised"] is None
    assert shaky["compromised"]["scope"] == "model"

    world.publish(u2f=naming(world.u2f_certificate.der))
    await world.refresh(api)
    u2f, _ = await passkeys(api)
    assert u2f["compromised"]["scope"] == "certificate"
    assert "the batch of its attestation certificate" in u2f["compromised"]["detail"]

    world.publish(u2f=naming(world.vendor.root.der))
    await world.refresh(api)
    u2f, _ = await passkeys(api)
    assert u2f["compromised"]["scope"] == "model"


# --- sign-in ------------------------------------------------------------------------------


async def test_the_default_allows_a_compromised_model_to_sign_in(
    make_api: ApiFactory, world: World
) -> None:
    assert Settings.model_fields["compromised_authenticators"].default == "allow"
    world.publish(shaky=[BYPASS])
    api = await world.api(make_api)
    assert api.settings.compromised_authenticators == "allow"
    key = world.packed(SHAKY)
    await signed_up(api, key)
    api.client.cookies.clear()
    assert (await api.sign_in(key)).status_code == 200
    assert (await api.reauthenticate(key, "passkeys")).status_code == 200


@pytest.mark.parametrize("bound", [False, True], ids=["discoverable", "username"])
async def test_refuse_refuses_a_compromised_model_after_its_signature(
    make_api: ApiFactory, world: World, bound: bool
) -> None:
    world.publish(shaky=[BYPASS])
    api = await world.api(make_api, compromised_authenticators="refuse")
    shaky, fine = world.packed(SHAKY), world.packed(KEY_A)
    username = f"shaky-{uuid.uuid4().hex[:8]}"
    user_id = await signed_up(api, shaky, username)
    assert (await api.add_passkey(fine)).status_code == 201
    api.client.cookies.clear()
    sessions = await count(api, "sessions")

    # A forged signature for that passkey: the bad signature's answer, as always.
    options = await api.sign_in_options(username if bound else None)
    forged = shaky.get(options, origin=ORIGIN)
    forged["response"]["signature"] = tamper(forged["response"]["signature"])
    response = await api.post("/v1/authentication/verify", forged)
    assert (response.status_code, problem_code(response)) == (400, "invalid_credential")

    response = await api.sign_in(shaky, username if bound else None)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)
    detail = response.json()["detail"]
    assert detail.startswith('The FIDO Metadata Service reports "Shaky Key": its PIN')
    assert "sign in with another passkey or recover your account" in detail
    assert await count(api, "sessions") == sessions
    assert "passkey_session" not in api.client.cookies
    failed = [e for e in await audit_events(api, "sign_in") if e.code == COMPROMISED]
    assert [(str(e.user_id), e.success) for e in failed] == [(user_id, False)]

    # The account's other passkey signs in; a step-up with the compromised one is refused.
    assert (await api.sign_in(fine, username if bound else None)).status_code == 200
    stepped = await api.reauthenticate(shaky, "passkeys")
    assert (stepped.status_code, problem_code(stepped)) == (403, COMPROMISED)
    assert (await api.reauthenticate(fine, "passkeys")).status_code == 200


async def test_refuse_finds_a_u2f_key_by_its_key_identifier(
    make_api: ApiFactory, world: World
) -> None:
    world.publish(u2f=[forge.status_report("REVOKED", date(2025, 6, 1))])
    api = await world.api(make_api, compromised_authenticators="refuse")
    key = world.u2f()
    username = f"u2f-{uuid.uuid4().hex[:8]}"
    await signed_up(api, key, username)
    api.client.cookies.clear()
    response = await api.sign_in(key, username)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)
    assert '"Test U2F Key": it was revoked by the FIDO Alliance' in response.json()["detail"]


async def test_a_key_proving_one_of_several_models_answers_for_each(
    make_api: ApiFactory, world: World
) -> None:
    """A certificate naming no AAGUID, under a root two models list, proves "Hello Key
    or Hello Sibling Key". Admitted by `attested` (neither is reported), the passkey keeps
    both: when the sibling is revoked, the refresh audits it, the list shows it, and
    PASSKEY_COMPROMISED_AUTHENTICATORS=refuse refuses the passkey at sign-in."""
    api = await world.api(
        make_api, authenticator_policy="attested", compromised_authenticators="refuse"
    )
    key = world.hello()
    username = f"hello-{uuid.uuid4().hex[:8]}"
    user_id = await signed_up(api, key, username)
    (listed,) = await passkeys(api)
    assert listed["attestation"] == {
        "type": "basic",
        "verified": True,
        "model": "Hello Key",
        "could_also_be": ["Hello Sibling Key"],
    }
    assert listed["compromised"] is None
    api.client.cookies.clear()
    assert (await api.sign_in(key, username)).status_code == 200

    number = world.publish(sibling=[forge.status_report("REVOKED", date(2025, 6, 1))])
    await world.refresh(api)
    assert await reported_events(api) == [
        {
            "user_id": user_id,
            "model": "Hello Sibling Key",
            "model_id": str(HELLO_SIBLING),
            "status": "REVOKED",
            "since": "2025-06-01",
            "scope": "shared_root",
            "previous": None,
            "passkeys": [listed["id"]],
            "metadata_no": number,
        }
    ]
    (listed,) = await passkeys(api)
    assert listed["compromised"] == {
        "status": "REVOKED",
        "since": "2025-06-01",
        "scope": "shared_root",
        "detail": 'The FIDO Metadata Service reports "Hello Sibling Key", a model this '
        "passkey's attestation could not be told apart from: it was revoked by the FIDO "
        "Alliance (since 2025-06-01).",
    }
    api.client.cookies.clear()
    sessions = await count(api, "sessions")
    response = await api.sign_in(key, username)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)
    assert await count(api, "sessions") == sessions


async def test_a_model_listed_later_under_the_same_root_answers_too(
    make_api: ApiFactory, world: World
) -> None:
    """The passkey keeps the names of the CAs its chain named, not the models listed
    that day: a model that a later version lists under the same root is one it could be,
    and what is reported of it is reported of the passkey."""
    api = await world.api(
        make_api, authenticator_policy="attested", compromised_authenticators="refuse"
    )
    key = world.hello()
    username = f"hello-{uuid.uuid4().hex[:8]}"
    user_id = await signed_up(api, key, username)
    world.publish(late=[])
    await world.refresh(api)
    (listed,) = await passkeys(api)
    assert listed["attestation"]["could_also_be"] == ["Hello Sibling Key", "Hello Late Key"]
    assert await reported_events(api) == []

    number = world.publish(
        late=[forge.status_report("USER_KEY_REMOTE_COMPROMISE", date(2025, 7, 1))]
    )
    await world.refresh(api)
    assert [
        (e["user_id"], e["model"], e["status"], e["scope"], e["metadata_no"])
        for e in await reported_events(api)
    ] == [(user_id, "Hello Late Key", "USER_KEY_REMOTE_COMPROMISE", "shared_root", number)]
    (listed,) = await passkeys(api)
    assert listed["compromised"]["scope"] == "shared_root"
    api.client.cookies.clear()
    response = await api.sign_in(key, username)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)


async def test_a_new_report_is_audited_though_an_older_one_stays_the_latest(
    make_api: ApiFactory, world: World
) -> None:
    """The sibling is reported compromised in 2025-03; later its entry adds a report
    dated 2024: the latest is the same, but what is reported of the passkey changed, and
    the audit says so."""
    world.publish(sibling=[BYPASS])
    api = await world.api(make_api)
    user_id = await signed_up(api, world.hello())
    number = world.publish(
        sibling=[forge.status_report("USER_KEY_PHYSICAL_COMPROMISE", date(2024, 2, 1)), BYPASS]
    )
    await world.refresh(api)
    events = [e for e in await reported_events(api) if e["metadata_no"] == number]
    assert [(e["user_id"], e["status"], e["previous"]) for e in events] == [
        (user_id, "USER_VERIFICATION_BYPASS", "USER_VERIFICATION_BYPASS")
    ]


async def test_a_refresh_that_only_changes_what_a_chain_reaches_is_audited(
    make_api: ApiFactory, world: World
) -> None:
    """No model's reports change, but a new entry lists a cross certificate of Hello's
    root issued by another maker's root, whose model is revoked: a Hello passkey that
    named no model could now be that one, which the list, the sign-in and the audit all
    say."""
    api = await world.api(
        make_api, authenticator_policy="attested", compromised_authenticators="refuse"
    )
    key = world.hello()
    username = f"hello-{uuid.uuid4().hex[:8]}"
    user_id = await signed_up(api, key, username)
    (listed,) = await passkeys(api)
    assert listed["compromised"] is None
    number = world.publish(bridge=True)
    await world.refresh(api)
    assert [
        (e["user_id"], e["model"], e["status"], e["scope"], e["metadata_no"])
        for e in await reported_events(api)
    ] == [(user_id, "Far Revoked Key", "REVOKED", "shared_root", number)]
    (listed,) = await passkeys(api)
    assert listed["attestation"]["could_also_be"] == [
        "Hello Sibling Key",
        "Far Revoked Key",
        "Bridge Key",
    ]
    api.client.cookies.clear()
    response = await api.sign_in(key, username)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)


async def test_what_the_chain_reached_when_registered_is_kept(
    make_api: ApiFactory, world: World
) -> None:
    """Registered through an intermediate CA that Anchor Key A listed (x5c holds only
    the batch certificate): the chain reached the root too, which Anchor Key B lists.
    A later version no longer lists the CA, and revokes Anchor Key B: the passkey still
    answers for it."""
    leaf = world.anchor_ca.attestation_certificate()
    key = forge.attesting_key(leaf, "packed", ANCHOR_A)
    api = await world.api(
        make_api, authenticator_policy="attested", compromised_authenticators="refuse"
    )
    username = f"anchor-{uuid.uuid4().hex[:8]}"
    await signed_up(api, key, username)
    (listed,) = await passkeys(api)
    assert listed["attestation"]["could_also_be"] == ["Anchor Key B"]
    world.publish(
        anchor_ca_listed=False, anchor_b=[forge.status_report("REVOKED", date(2025, 8, 1))]
    )
    await world.refresh(api)
    (listed,) = await passkeys(api)
    assert listed["compromised"]["status"] == "REVOKED"
    assert listed["compromised"]["scope"] == "shared_root"
    api.client.cookies.clear()
    response = await api.sign_in(key, username)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)


async def test_a_uaf_model_listed_later_under_the_same_root_answers_too(
    make_api: ApiFactory, world: World
) -> None:
    """No passkey is of a UAF authenticator's model (its entry has neither AAGUID nor
    key identifier), but a Hello passkey could be of one listed later under Hello's
    root: what is reported of it is reported of the passkey, and audited."""
    api = await world.api(
        make_api, authenticator_policy="attested", compromised_authenticators="refuse"
    )
    key = world.hello()
    username = f"hello-{uuid.uuid4().hex[:8]}"
    user_id = await signed_up(api, key, username)
    number = world.publish(
        uaf=[forge.status_report("USER_KEY_REMOTE_COMPROMISE", date(2025, 9, 1))]
    )
    await world.refresh(api)
    assert [
        (e["user_id"], e["model"], e["model_id"], e["status"], e["metadata_no"])
        for e in await reported_events(api)
    ] == [
        (user_id, "Hello UAF Authenticator", "aaid:ABCD#0001", "USER_KEY_REMOTE_COMPROMISE", number)
    ]
    (listed,) = await passkeys(api)
    assert listed["compromised"]["scope"] == "shared_root"
    api.client.cookies.clear()
    response = await api.sign_in(key, username)
    assert (response.status_code, problem_code(response)) == (403, COMPROMISED)


async def test_a_first_version_held_audits_a_uaf_models_report(
    make_api: ApiFactory, world: World
) -> None:
    """With no version stored nor held (the table emptied by hand), the next one stored
    is the first: every report is new, that of an entry named by neither AAGUID nor key
    identifier too, when no other model is reported."""
    api = await world.api(make_api, authenticator_policy="attested")
    user_id = await signed_up(api, world.hello())
    async with api.resources.sessionmaker() as db:
        await db.exec(delete(AuthenticatorMetadata))
        await db.commit()
    api.resources.metadata.catalogue = None
    number = world.publish(uaf=[forge.status_report("REVOKED", date(2025, 10, 1))], far=False)
    await world.refresh(api)
    assert [
        (e["user_id"], e["model_id"], e["status"], e["metadata_no"])
        for e in await reported_events(api)
    ] == [(user_id, "aaid:ABCD#0001", "REVOKED", number)]


# --- the audit --------------------------------------------------------------------------


async def test_a_refresh_audits_a_newly_reported_model_once(
    make_api: ApiFactory, world: World
) -> None:
    api = await world.api(make_api)
    # Another replica: it loads what the first stores, and audits nothing.
    replica = await world.api(make_api)
    alice = await signed_up(api, world.packed(SHAKY))
    assert (await api.add_passkey(world.packed(SHAKY))).status_code == 201
    assert (await api.add_passkey(world.packed(KEY_A))).status_code == 201
    alice_keys = sorted(p["id"] for p in (await passkeys(api))[:2])
    api.client.cookies.clear()
    bob = await signed_up(api, world.packed(SHAKY))
    bob_key = (await passkeys(api))[0]["id"]
    await signed_up(api, world.packed(KEY_A))  # a model nothing is reported of
    assert await reported_events(api) == []

    number = world.publish(shaky=[BYPASS])
    await world.refresh(api)
    events = await reported_events(api)
    common = {
        "model": "Shaky Key",
        "model_id": str(SHAKY),
        "status": "USER_VERIFICATION_BYPASS",
        "since": "2025-03-01",
        "scope": "model",
        "previous": None,
        "metadata_no": number,
    }
    assert sorted(events, key=lambda e: e["user_id"] != alice) == [
        {"user_id": alice, **common, "passkeys": alice_keys},
        {"user_id": bob, **common, "passkeys": [bob_key]},
    ]
    async with replica.resources.sessionmaker() as db:
        await replica.resources.metadata.housekeep(db, datetime.now(UTC))
    assert replica.resources.metadata.catalogue is not None
    assert replica.resources.metadata.catalogue.number == number
    # Reported the same in the next version: nothing new.
    world.publish(shaky=[BYPASS])
    await world.refresh(api)
    assert len(await reported_events(api)) == 2
    # No longer reported: said once more.
    world.publish()
    await world.refresh(api)
    events = await reported_events(api)
    assert len(events) == 4
    assert {(e["user_id"], e["status"], e["previous"]) for e in events[2:]} == {
        (alice, None, "USER_VERIFICATION_BYPASS"),
        (bob, None, "USER_VERIFICATION_BYPASS"),
    }
