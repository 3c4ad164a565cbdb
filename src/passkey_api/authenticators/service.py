"""The metadata a process uses, and its refreshes.

Each replica holds the newest stored version in memory (a Catalogue), loaded at start-up
and whenever the hourly housekeeping finds a newer `no` stored (by another replica, or by
`passkey-api mds refresh`), so no request reads the database for it. A refresh (daily,
hourly once the held version's nextUpdate has come, or on demand) fetches the BLOB,
verifies it (blob.py), and stores it only if its `no` is newer than every version stored
or held; whatever goes wrong keeps the version held, and says so in the log (why), in
/readyz (only the outcome: it is public) and in the metrics (kit/metrics.py:
passkey_mds_*). No database transaction is open while the BLOB is fetched.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from passkey_api.audit import service as audit
from passkey_api.authenticators import blob, repository, sources
from passkey_api.authenticators.blob import BlobRefused
from passkey_api.authenticators.catalogue import AuthenticatorModel, Catalogue, Compromise
from passkey_api.config import Settings
from passkey_api.kit import base64url, metrics
from passkey_api.storage.models import AuthenticatorMetadata

log = logging.getLogger(__name__)

UPDATED = "updated"
# MDS3's nextUpdate is the latest date of the next BLOB, and FIDO may publish earlier (a
# REVOKED status): a replica asks at least this often, whatever the nextUpdate.
REFRESH_EVERY = timedelta(days=1)
# With none held, a BLOB further past its nextUpdate than this is refused ("outdated"):
# an old BLOB replayed, or a mirror stuck long ago. One held is kept however old.
FIRST_LOAD_GRACE = timedelta(days=30)


@dataclass(frozen=True)
class Attempt:
    """One refresh: when, how it ended (UPDATED or a BlobRefused outcome), in words."""

    at: datetime
    outcome: str
    message: str

    @property
    def updated(self) -> bool:
        return self.outcome == UPDATED


class MetadataService:
    """The authenticator metadata of this process (owned by the app's lifespan)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalogue: Catalogue | None = None
        self.last_attempt: Attempt | None = None
        # When this process last took up a version or tried a refresh: the daily refresh
        # counts from it.
        self._checked_at: datetime | None = None
        # One refresh or load at a time in this process; replicas are decided by the
        # table's key (the `no`).
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.settings.mds

    # --- lookups: from memory, never the database -------------------------------------

    def by_aaguid(self, aaguid: uuid.UUID | str) -> AuthenticatorModel | None:
        return self.catalogue.by_aaguid(aaguid) if self.catalogue else None

    def by_key_identifier(self, identifier: bytes) -> AuthenticatorModel | None:
        return self.catalogue.by_key_identifier(identifier) if self.catalogue else None

    def attestation_key_compromised(self, key_identifiers: list[str]) -> bool:
        """Whether the held metadata reports a certificate with one of these keys (an
        attestation chain's, hex) as an ATTESTATION_KEY_COMPROMISE; False without it."""
        catalogue = self.catalogue
        return catalogue is not None and catalogue.attestation_key_compromised(key_identifiers)

    def model_of(self, aaguid: str, key_identifier: str | None) -> AuthenticatorModel | None:
        """A stored passkey's model (by its AAGUID, or a U2F key's key identifier)."""
        return self.catalogue.by_passkey(aaguid, key_identifier) if self.catalogue else None

    def models_under(self, ca_names: Sequence[str]) -> tuple[AuthenticatorModel, ...]:
        return self.catalogue.models_under(ca_names) if self.catalogue else ()

    def models_anchored_at(self, token: str) -> tuple[AuthenticatorModel, ...]:
        return self.catalogue.models_anchored_at(token) if self.catalogue else ()

    def closure(self, ca_names: Sequence[str]) -> frozenset[str]:
        return self.catalogue.closure(ca_names) if self.catalogue else frozenset(ca_names)

    def models_of_aaguid(self, aaguid: uuid.UUID) -> tuple[AuthenticatorModel, ...]:
        return self.catalogue.models_of_aaguid(aaguid) if self.catalogue else ()

    def models_listing(self, identifier: bytes) -> tuple[AuthenticatorModel, ...]:
        return self.catalogue.models_listing(identifier) if self.catalogue else ()

    @property
    def unnamed_roots(self) -> tuple[bytes, ...]:
        return self.catalogue.unnamed_roots if self.catalogue else ()

    def compromise(
        self, aaguid: str, key_identifier: str | None, ca_names: Sequence[str] = ()
    ) -> Compromise | None:
        """What the held metadata reports of a stored passkey's model, or of a model its
        attestation could not be told apart from (under `ca_names`), when it reports one
        compromised (catalogue.COMPROMISE_STATUSES); None otherwise, and without metadata."""
        catalogue = self.catalogue
        if catalogue is None:
            return None
        return catalogue.compromise(aaguid, key_identifier, ca_names)

    # --- what is due ------------------------------------------------------------------

    def refresh_due(self, now: datetime) -> bool:
        """None held, the held version's nextUpdate has come, or REFRESH_EVERY has passed
        since this process took it up or last tried."""
        return (
            self.catalogue is None
            or now.date() >= self.catalogue.next_update
            or self._checked_at is None
            or now - self._checked_at >= REFRESH_EVERY
        )

    def stale(self, now: datetime) -> bool:
        """None held, or the held version is past its nextUpdate: still used, but a newer
        one should have been had by now."""
        return self.catalogue is None or now.date() > self.catalogue.next_update

    # --- loading and refreshing -------------------------------------------------------

    async def load_newest(self, db: AsyncSession) -> bool:
        """Hold the newest stored version when it is newer than the one held; whether
        it was. One small query when there is nothing new."""
        async with self._lock:
            return await self._load_newest(db)

    async def _load_newest(self, db: AsyncSession) -> bool:
        try:
            number = await repository.newest_number(db)
            if number is None or (self.catalogue is not None and number <= self.catalogue.number):
                return False
            stored = await repository.payload_of(db, number)
        finally:
            # Read only: no transaction stays open after (through a slow parse, or the
            # fetch that may follow).
            await db.rollback()
        if stored is None:  # removed meanwhile: a newer one is there, next time
            return False
        try:
            payload = await asyncio.to_thread(blob.parse_payload, stored)
        except BlobRefused as exc:  # verified when stored: a release that reads it less
            log.error("authenticator metadata: stored BLOB no %d unreadable: %s", number, exc)
            return False
        self._hold(Catalogue(payload), "loaded")
        self._checked_at = datetime.now(UTC)
        return True

    async def refresh(self, db: AsyncSession, now: datetime) -> Attempt:
        """Fetch, verify and store the source's BLOB if it is newer; use it. Whatever the
        outcome, the Attempt is logged, counted and shown by status()."""
        async with self._lock:
            self._checked_at = now
            try:
                attempt = await self._refresh(db, now)
            except Exception as exc:  # a bug: recorded as such, and raised for its traceback
                self._record(Attempt(now, "failed", f"unexpected {type(exc).__name__}"), now)
                raise
        self._record(attempt, now)
        return attempt

    async def _refresh(self, db: AsyncSession, now: datetime) -> Attempt:
        source = sources.describe(self.settings)
        await db.rollback()  # nothing open while fetching, however long it takes
        try:
            token = await sources.fetch(self.settings)
            roots = await asyncio.to_thread(self._roots)
            verified = await asyncio.to_thread(
                blob.verify, token, roots=roots, signer=self.settings.mds_signer, now=now
            )
            await self._load_newest(db)  # what another replica may have stored
            held = self.catalogue.number if self.catalogue else None
            if held is None and verified.next_update < (now - FIRST_LOAD_GRACE).date():
                raise BlobRefused(
                    "outdated",
                    f"BLOB no {verified.number}'s nextUpdate {verified.next_update} is more "
                    f"than {FIRST_LOAD_GRACE.days} days past: an old BLOB, not the Metadata "
                    "Service's current one",
                )
            if held is not None and verified.number <= held:
                raise BlobRefused(
                    "not_newer",
                    f"the BLOB's no {verified.number} is not newer than no {held}, the one "
                    "held; a BLOB is used only once its no is greater",
                )
            await repository.add(
                db,
                AuthenticatorMetadata(
                    no=verified.number,
                    next_update=verified.next_update,
                    stored_at=now,
                    source=source[:1024],
                    payload=verified.payload_json,
                ),
            )
            await repository.delete_older(db)
            catalogue = Catalogue(verified.payload)
            # In the same commit as the version: written once, by the replica that stored
            # it (the table's key lets one replica store a `no`), never by those that
            # only load it.
            await report_changes(db, self.catalogue, catalogue, now)
            await db.commit()
        except BlobRefused as exc:
            await db.rollback()
            return Attempt(now, exc.outcome, exc.message)
        except IntegrityError:
            await db.rollback()
            try:
                await self._load_newest(db)
            except (SQLAlchemyError, OSError) as exc:  # held at the next pass
                log.warning(
                    "authenticator metadata: could not load the stored version (%s)",
                    type(exc).__name__,
                )
            return Attempt(
                now,
                "not_newer",
                f"BLOB no {verified.number} was stored meanwhile by another replica",
            )
        except (SQLAlchemyError, OSError) as exc:  # its text may carry the statement's data
            await db.rollback()
            return Attempt(now, "failed", f"could not store the BLOB ({type(exc).__name__})")
        self._hold(catalogue, f"stored from {source}")
        return Attempt(now, UPDATED, f"stored and using BLOB no {verified.number}")

    async def housekeep(self, db: AsyncSession, now: datetime) -> Attempt | None:
        """The hourly pass: hold what another replica stored; refresh when due."""
        await self.load_newest(db)
        attempt = await self.refresh(db, now) if self.refresh_due(now) else None
        self._gauges(now)
        if self.stale(now) and self.catalogue is not None:
            log.warning(
                "authenticator metadata: BLOB no %d is past its nextUpdate %s; still in use",
                self.catalogue.number,
                self.catalogue.next_update.isoformat(),
            )
        return attempt

    def _roots(self) -> Any:
        try:
            return blob.load_roots(self.settings.mds_root)
        except (OSError, ValueError) as exc:
            raise BlobRefused(
                "untrusted", f"the root certificate (PASSKEY_MDS_ROOT) cannot be read: {exc}"
            ) from None

    def _hold(self, catalogue: Catalogue, how: str) -> None:
        self.catalogue = catalogue
        log.info(
            "authenticator metadata: using BLOB no %d (%s; %d entries, next update %s)",
            catalogue.number,
            how,
            len(catalogue),
            catalogue.next_update.isoformat(),
        )

    def _record(self, attempt: Attempt, now: datetime) -> None:
        self.last_attempt = attempt
        metrics.MDS_REFRESHES.labels(attempt.outcome).inc()
        self._gauges(now)
        if not attempt.updated:
            held = f"BLOB no {self.catalogue.number}" if self.catalogue else "no metadata"
            log.warning(
                "authenticator metadata refresh failed (%s): %s; keeping %s",
                attempt.outcome,
                attempt.message,
                held,
            )

    def _gauges(self, now: datetime) -> None:
        metrics.MDS_BLOB_NUMBER.set(self.catalogue.number if self.catalogue else 0)
        metrics.MDS_STALE.set(1 if self.stale(now) else 0)

    def status(self, now: datetime) -> dict[str, Any]:
        """For /readyz's details: which version is in use, whether stale, and how this
        process's last refresh ended (its outcome only: /readyz is public, and the
        message names files, certificates, the URL; the log has it). Never a reason to be
        unready: the held version, or none, is what the service has either way."""
        stale = self.stale(now)
        found: dict[str, Any] = {"state": "stale" if stale else "ok", "stale": stale}
        if self.catalogue is None:
            found["state"] = "none"
        else:
            found["no"] = self.catalogue.number
            found["next_update"] = self.catalogue.next_update.isoformat()
        if self.last_attempt is not None:
            found["last_refresh"] = {"outcome": self.last_attempt.outcome}
        return found


REPORTED = "authenticator_reported"


async def report_changes(
    db: AsyncSession, old: Catalogue | None, new: Catalogue, now: datetime
) -> int:
    """Audit, per affected user and model, each passkey whose model (or a model its
    attestation could not be told apart from) the new version reports compromised
    differently from the old one (newly, another report, or no longer):
    `authenticator_reported` with the model of the latest report, its status (None: no
    longer reported), since when, the status before, and the passkeys' ids. With no old
    version, every report is new. Only when some model's reports changed are passkeys
    looked for; how many events were added."""
    changed_aaguids = _changed(old.compromised_by_aaguid if old else {}, new.compromised_by_aaguid)
    changed_identifiers = _changed(
        old.compromised_by_key_identifier if old else {}, new.compromised_by_key_identifier
    )
    # What a chain's CA names reach may change too (a listed certificate added under
    # another CA), and with it the models a passkey could be.
    reach_changed = old is not None and old.issuer_edges != new.issuer_edges
    # And a report of an entry named by neither (which a chain may still reach).
    entries_changed = (old.reported_entries if old else frozenset()) != new.reported_entries
    if not (changed_aaguids or changed_identifiers or reach_changed or entries_changed):
        return 0
    rows = await repository.passkeys_of_models(db, changed_aaguids, changed_identifiers)
    affected: dict[tuple[uuid.UUID, str], tuple[Compromise | None, Compromise | None, list[str]]]
    affected = {}
    for user_id, credential_id, aaguid, key_identifier, ca_names in rows:
        stored = (aaguid, key_identifier, ca_names)
        if (old.reported(*stored) if old else ()) == new.reported(*stored):
            continue
        before = old.compromise(*stored) if old else None
        after = new.compromise(*stored)
        model_id = (after or before).model_id  # type: ignore[union-attr]
        entry = affected.setdefault((user_id, model_id), (before, after, []))
        entry[2].append(base64url.encode(credential_id))
    for (user_id, model_id), (before, after, passkeys) in affected.items():
        either = after or before
        assert either is not None
        await audit.record(
            db,
            REPORTED,
            user_id=user_id,
            client=None,
            now=now,
            model=either.model,
            model_id=model_id,
            status=after.status if after else None,
            since=after.since.isoformat() if after and after.since else None,
            scope=after.scope if after else None,
            previous=before.status if before else None,
            passkeys=sorted(passkeys),
            metadata_no=new.number,
        )
    if affected:
        log.info(
            "authenticator metadata: BLOB no %d changes what is reported of %d users' "
            "passkeys; audited as %s",
            new.number,
            len({user for user, _ in affected}),
            REPORTED,
        )
    return len(affected)


def _changed(old: dict[str, list[Any]], new: dict[str, list[Any]]) -> list[str]:
    """The ids whose entries report otherwise (every entry of an id counts)."""
    return sorted(
        model_id
        for model_id in old.keys() | new.keys()
        if {m.signature() for m in old.get(model_id, [])}
        != {m.signature() for m in new.get(model_id, [])}
    )
