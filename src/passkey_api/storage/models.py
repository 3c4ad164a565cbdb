"""The tables. The schema itself is created by the Alembic migrations, never create_all."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Deterministic constraint names, so that migrations can refer to them on every backend.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive ones otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _utc_column(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UtcDateTime(), nullable=nullable, index=index)


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(primary_key=True)
    # As the user typed it (NFKC-normalised), for display.
    username: str = Field(max_length=64)
    # The uniqueness key: NFKC + casefold, so look-alike spellings are one account.
    username_key: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=64)
    # The WebAuthn user.id: random, opaque, never personal data.
    user_handle: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=_utc_column())
    # Always holds "user"; "admin" opens /v1/admin. Other names are free for embedders.
    roles: list[str] = Field(
        default_factory=lambda: ["user"], sa_column=Column(JSON, nullable=False)
    )
    # A disabled user cannot sign in and their sessions stop working.
    disabled_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # A session works only while its user_generation is this number, read by the sign-in
    # that made it; ending all of a user's sessions (disabling the account, an admin's
    # forced sign-out) deletes them and adds one here. So a session being written at that
    # moment, by a sign-in that read the account just before the change committed, never
    # works either, not even once the account is enabled again. Why a number and not a
    # lock: the read and the write of a sign-in are apart (a lookup, then one write:
    # PostgreSQL's one statement through the pool, outside any transaction; SQLite's one
    # transaction, and SQLite has no row locks), and a deletion cannot reach a row not yet
    # written. Two numbers of the same rows compare alike on both backends, with no lock
    # to take and no clock to trust (a time would be the requests' own, taken before
    # their reads).
    session_generation: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    # The recovery address (lowercased), set only once a link sent to it was followed, so
    # it always names a mailbox the user reads. UNIQUE: one address recovers one account.
    email: str | None = Field(
        default=None, sa_column=Column(String(254), nullable=True, unique=True)
    )
    email_verified_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The per-account ceiling of failed recovery attempts (recovery/attempts.py): attempts
    # counted in the current run, and when the run began (when it reached the ceiling,
    # once it has: the pause's start). Nothing else reads them: cached copies of the user
    # (sessions/cache.py) need not see them change.
    recovery_failures: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    recovery_failures_since: datetime | None = Field(
        default=None, sa_column=_utc_column(nullable=True)
    )


class RecoveryStandIn(SQLModel, table=True):
    """What a recovery attempt naming no usable account counts against instead of a
    user's row (recovery/attempts.py), so that it writes a row and commits as one on a
    real account does. A fixed set made by the migration, never added to nor deleted."""

    __tablename__ = "recovery_stand_ins"

    id: uuid.UUID = Field(primary_key=True)
    # User's columns of the same names, written by the same statement.
    recovery_failures: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    recovery_failures_since: datetime | None = Field(
        default=None, sa_column=_utc_column(nullable=True)
    )


class Passkey(SQLModel, table=True):
    __tablename__ = "passkeys"

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    # UNIQUE across all users: one authenticator credential belongs to one account.
    credential_id: bytes = Field(sa_column=Column(LargeBinary(1023), nullable=False, unique=True))
    public_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sign_count: int = Field(sa_column=Column(BigInteger, nullable=False))
    transports: list[str] = Field(sa_column=Column(JSON, nullable=False))
    aaguid: str = Field(max_length=36)
    backup_eligible: bool
    backup_state: bool
    # credProps.rk: True/False when the browser said, None when it did not (unknown).
    discoverable: bool | None = None
    attestation_format: str = Field(max_length=32)
    # What the attestation showed (ceremonies/attestation.py): none, self, basic, attca or
    # anonca; and whether its chain verified to a root the metadata gives for the model
    # (only with PASSKEY_ATTESTATION=direct or a restrictive policy; False otherwise).
    attestation_type: str = Field(
        default="none", sa_column=Column(String(8), nullable=False, server_default="none")
    )
    attestation_verified: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # Its attestation certificate's key identifier, 40 hex digits, as the metadata lists
    # them, when an entry lists it: the model of a key without an AAGUID (U2F), or an
    # entry (a U2F one of the same batch) whose reports reach a FIDO2 key by it; None
    # for every other key.
    attestation_key_identifier: str | None = Field(
        default=None, sa_column=Column(String(40), nullable=True)
    )
    # When its attestation certificate named no model, under a root several models'
    # entries list (ceremonies/attestation.py): the names of the CAs its chain named
    # (catalogue.ca_name_key()). The models whose entries list a root of one of these
    # names, in the metadata held at any time, are the models it could be: what is
    # reported of any of them is reported of this passkey. Empty: it proved one model,
    # or none.
    attestation_ca_names: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=text("'[]'")),
    )
    name: str = Field(max_length=64)
    user_verified: bool
    created_at: datetime = Field(sa_column=_utc_column())
    last_used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class Session(SQLModel, table=True):
    __tablename__ = "sessions"

    # The public id, safe to show in a list of sessions; never the token.
    id: uuid.UUID = Field(primary_key=True)
    token_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False, unique=True))
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    user_verified: bool
    # How it was created: "passkey" or "oauth:<provider>" (user_verified says whether the
    # passkey verified the user; a social sign-in never does).
    method: str = Field(
        default="passkey",
        sa_column=Column(String(32), nullable=False, server_default="passkey"),
    )
    created_at: datetime = Field(sa_column=_utc_column())
    last_seen_at: datetime = Field(sa_column=_utc_column())
    expires_at: datetime = Field(sa_column=_utc_column(index=True))
    user_agent: str | None = Field(default=None, max_length=512)
    ip: str | None = Field(default=None, max_length=64)
    # Re-authentication (sudo mode): purpose -> ISO time of the last user-verified
    # assertion made for it in this session.
    reauthenticated: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    # When the passkey ceremony that started the session (sign-up, sign-in, the passkey
    # that ended a recovery session) would also have passed that re-authentication: a
    # step-up for every purpose until PASSKEY_REAUTH_WINDOW after it, as OpenID Connect's
    # auth_time is for max_age. None for any other session (social sign-in, recovery).
    stepped_up_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # The user's session_generation as the sign-in that made the session read it; the
    # session works only while they are equal (User.session_generation says why).
    user_generation: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )
    # "full", or "recovery": made by a recovery code or an emailed link, it may only add a
    # passkey (which turns it into a full session) and expires soon, without sliding.
    scope: str = Field(
        default="full",
        sa_column=Column(String(16), nullable=False, server_default="full"),
    )


class RecoveryCode(SQLModel, table=True):
    """One of a user's one-time recovery codes, as a salted scrypt hash found by its
    lookup (recovery/codes.py); rows without a lookup hold an HMAC (codes made before).
    The codes themselves are shown once and never stored."""

    __tablename__ = "recovery_codes"
    __table_args__ = (
        UniqueConstraint("user_id", "code_hash"),
        # NULLs (the codes made before lookups) never collide.
        Index("ix_recovery_codes_user_id_lookup", "user_id", "lookup", unique=True),
    )

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    code_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    created_at: datetime = Field(sa_column=_utc_column())
    used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    lookup: str | None = Field(default=None, sa_column=Column(String(4), nullable=True))
    salt: bytes | None = Field(default=None, sa_column=Column(LargeBinary(16), nullable=True))


class Identity(SQLModel, table=True):
    """An account at a social sign-in provider, linked to one user."""

    __tablename__ = "identities"
    # One provider account belongs to one user; the constraint decides any race.
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    # The key in PASSKEY_OAUTH_PROVIDERS.
    provider: str = Field(max_length=32)
    # The provider's stable user id (OIDC `sub`, GitHub's numeric id).
    subject: str = Field(max_length=255)
    # Lowercased; only verified ones are compared with other accounts (see repository).
    email: str | None = Field(default=None, max_length=320, index=True)
    email_verified: bool = False
    created_at: datetime = Field(sa_column=_utc_column())
    last_used_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    # "My activity" reads one user's newest events first.
    __table_args__ = (Index("ix_audit_events_user_id", "user_id", "at"),)

    id: uuid.UUID = Field(primary_key=True)
    at: datetime = Field(sa_column=_utc_column(index=True))
    event: str = Field(max_length=48)
    # Whose account it concerns; no foreign key, so the trail outlives a deleted user.
    user_id: uuid.UUID | None = None
    # Who did it, when not the user themself (an admin).
    actor_id: uuid.UUID | None = None
    success: bool
    code: str | None = Field(default=None, max_length=64)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuthenticatorMetadata(SQLModel, table=True):
    """A version of the FIDO Metadata Service's BLOB, verified before it was stored
    (authenticators/): every replica reads the newest one, so all use the same."""

    __tablename__ = "authenticator_metadata"

    # The BLOB's serial number (`no`); a newer BLOB has a greater one. The key decides
    # between replicas storing the same version at once.
    no: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # The BLOB's nextUpdate: from that day on a newer one is due.
    next_update: date
    stored_at: datetime = Field(sa_column=_utc_column())
    # Where it came from: the URL, or the file's path.
    source: str = Field(max_length=1024)
    # The verified payload, the JSON text as it was signed.
    payload: str = Field(sa_column=Column(Text, nullable=False))


class DecoySeed(SQLModel, table=True):
    """The random secret that keys the decoy credentials of unknown usernames
    (ceremonies/decoys.py): one row, made by the first replica to start
    (storage/decoy_seed.py) and read by every other, never changed by a rotation of
    PASSKEY_SECRET_KEY, so that no decoy changes when the key does."""

    __tablename__ = "decoy_seed"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True)
    seed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
