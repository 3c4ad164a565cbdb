"""The signed-in user's passkeys: list, rename, remove, and the Signal API payloads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.errors import LastPasskey, NotFound
from passkey_api.kit import base64url, cose
from passkey_api.kit.client_info import ClientInfo
from passkey_api.kit.text import one_line
from passkey_api.passkeys import repository
from passkey_api.passkeys.providers import provider
from passkey_api.passkeys.schemas import (
    AllAcceptedCredentials,
    CurrentUserDetails,
    SafeguardKind,
    Signals,
)
from passkey_api.storage.models import Passkey, User


async def list_for(db: AsyncSession, user: User) -> list[Passkey]:
    return await repository.list_for_user(db, user.id)


@dataclass(frozen=True)
class Safeguard:
    """Something that lets the owner back in after losing a device, and why, in words."""

    kind: SafeguardKind
    detail: str


def authenticators(passkeys: list[Passkey]) -> int:
    """How many authenticators hold the passkeys, at the least. A device-bound passkey
    has its authenticator to itself: adding a passkey lists every passkey of the account
    in excludeCredentials, so no authenticator takes a second one for it (two keys of
    one model, one AAGUID, are still two keys). Synced passkeys of one provider (one
    AAGUID) may all sit in one account of that provider: they count once."""
    bound = sum(1 for passkey in passkeys if not passkey.backup_eligible)
    synced = {passkey.aaguid for passkey in passkeys if passkey.backup_eligible}
    return bound + len(synced)


def safeguards(
    passkeys: list[Passkey], *, unused_codes: int, verified_address: bool
) -> list[Safeguard]:
    """What keeps the account reachable when one device is lost; empty: nothing does."""
    found: list[Safeguard] = []
    held_by = authenticators(passkeys)
    if held_by >= 2:
        found.append(
            Safeguard(
                "passkeys_on_several_authenticators",
                f"Your passkeys are on {held_by} different devices or password managers: "
                "lose one and another still signs you in.",
            )
        )
    synced = next((p for p in passkeys if p.backup_eligible), None)
    if synced is not None:
        manager = provider(synced.aaguid, synced.transports)
        which = f"in {manager.name}" if manager.known else f"“{synced.name}”"
        found.append(
            Safeguard(
                "synced_passkey",
                f"Your passkey {which} is synced: sign in to its password manager on a "
                "new device and the passkey is there.",
            )
        )
    if unused_codes > 0:
        codes = (
            "1 unused recovery code"
            if unused_codes == 1
            else (f"{unused_codes} unused recovery codes")
        )
        found.append(
            Safeguard(
                "recovery_codes",
                f"You have {codes}: one lets you back in to add a new passkey.",
            )
        )
    if verified_address:
        found.append(
            Safeguard(
                "recovery_address",
                "Your recovery address is verified: a link mailed to it lets you back in "
                "to add a new passkey.",
            )
        )
    return found


def recovery_advice(passkeys: list[Passkey], found: list[Safeguard]) -> str | None:
    """What to do when nothing in `found` protects the account."""
    if found:
        return None
    if not passkeys:
        return "You have no passkey yet: add one, then a spare."
    return (
        "Your only passkey is bound to one device: lose it and you are locked out. Add a "
        "security key or a phone as a spare, or make recovery codes."
    )


def signals(rp_id: str, user: User, credential_ids: list[bytes]) -> Signals:
    user_id = base64url.encode(user.user_handle)
    return Signals(
        all_accepted_credentials=AllAcceptedCredentials(
            rpId=rp_id,
            userId=user_id,
            allAcceptedCredentialIds=[base64url.encode(c) for c in credential_ids],
        ),
        current_user_details=CurrentUserDetails(
            rpId=rp_id, userId=user_id, name=user.username, displayName=user.display_name
        ),
    )


async def signals_for(db: AsyncSession, rp_id: str, user: User) -> Signals:
    return signals(rp_id, user, await repository.credential_ids_of(db, user.id))


async def _owned(db: AsyncSession, user: User, passkey_id: str) -> Passkey:
    """The user's passkey by credential id; someone else's is as absent as a missing one."""
    try:
        credential_id = base64url.decode(passkey_id)
    except ValueError:
        raise NotFound("No such passkey.") from None
    passkey = await repository.get_owned(db, user.id, credential_id)
    if passkey is None:
        raise NotFound("No such passkey.")
    return passkey


async def rename(
    db: AsyncSession, user: User, passkey_id: str, name: str, *, client: ClientInfo, now: datetime
) -> Passkey:
    name = one_line(name, "name")
    passkey = await _owned(db, user, passkey_id)
    old = passkey.name
    passkey.name = name
    db.add(passkey)
    await audit.record(
        db,
        "passkey_renamed",
        user_id=user.id,
        client=client,
        now=now,
        passkey=passkey_id,
        old=old,
        new=name,
    )
    await db.commit()
    return passkey


async def remove(
    db: AsyncSession, user: User, passkey_id: str, *, client: ClientInfo, now: datetime
) -> None:
    passkey = await _owned(db, user, passkey_id)
    if not await repository.delete_unless_last(db, user.id, passkey.credential_id):
        if await repository.get_owned(db, user.id, passkey.credential_id) is None:
            raise NotFound("No such passkey.")  # a concurrent request removed it
        raise LastPasskey("Add another passkey before removing this one.")
    await audit.record(
        db,
        "passkey_removed",
        user_id=user.id,
        client=client,
        now=now,
        passkey=passkey_id,
        name=passkey.name,
    )
    await db.commit()


@dataclass(frozen=True)
class UntrustedKey:
    passkey_id: uuid.UUID
    username: str
    credential_id: str
    reason: str


async def untrusted_keys(db: AsyncSession, *, page: int = 500) -> AsyncIterator[UntrustedKey]:
    """Stored passkeys whose key fits none of cose.py's profiles: registered before the
    profiles were enforced. Sign-in refuses them (`untrusted_public_key`)."""
    after = None
    while rows := await repository.keys_after(db, after, page):
        for passkey_id, username, credential_id, public_key in rows:
            try:
                cose.load(public_key)
            except cose.KeyRefused as exc:
                yield UntrustedKey(passkey_id, username, base64url.encode(credential_id), str(exc))
        after = rows[-1][0]
