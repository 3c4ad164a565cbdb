"""Prometheus metrics (served at /metrics). With `serve --workers N` every worker writes
its values to files that /metrics sums (prometheus_client's multiprocess mode:
storage/metric_files.py), so whichever worker answers speaks for the whole server."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

REQUESTS = Counter(
    "passkey_http_requests",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "passkey_http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["route", "method"],
    buckets=_FAST,
    registry=REGISTRY,
)
CEREMONIES = Counter(
    "passkey_ceremonies",
    "WebAuthn ceremonies by kind and outcome (started, succeeded, failed) and error code.",
    ["ceremony", "outcome", "code"],
    registry=REGISTRY,
)
ACTIVE_SESSIONS = Gauge(
    "passkey_active_sessions",
    "Sessions not yet expired (counted at scrape time, at most every 15 s).",
    registry=REGISTRY,
    # A count of the database's, set by whichever worker answers a scrape: across
    # workers, the value set last is the one that holds.
    multiprocess_mode="mostrecent",
)
CHALLENGE_STORE = Histogram(
    "passkey_challenge_store_duration_seconds",
    "Challenge store operation latency.",
    ["operation"],
    buckets=_FAST,
    registry=REGISTRY,
)
DATABASE = Histogram(
    "passkey_database_query_duration_seconds",
    "Database statement latency.",
    buckets=_FAST,
    registry=REGISTRY,
)

# Authenticator metadata (authenticators/service.py). Each worker holds its own copy in
# memory: across workers, the gauges speak for the live workers, the number for the one
# furthest behind and staleness for any that is stale.
MDS_REFRESHES = Counter(
    "passkey_mds_refresh",
    "Refreshes of the FIDO Metadata Service BLOB by outcome (updated, not_newer, "
    "unreachable, untrusted, bad_signature, unparsable, outdated, failed).",
    ["outcome"],
    registry=REGISTRY,
)
MDS_BLOB_NUMBER = Gauge(
    "passkey_mds_blob_number",
    "The serial number (no) of the metadata BLOB this process uses; 0 for none.",
    registry=REGISTRY,
    multiprocess_mode="livemin",
)
MDS_STALE = Gauge(
    "passkey_mds_stale",
    "1 when the metadata in use is past its nextUpdate (or none could be had), else 0.",
    registry=REGISTRY,
    multiprocess_mode="livemax",
)


# Label children by their label values: labels() checks and locks on every call, which
# costs every request more than the count itself. Bounded, should values ever run wild.
_CHILDREN: dict[tuple[str, ...], tuple[Any, ...]] = {}
_MAX_CHILDREN = 4096


def request_done(route: str, method: str, status: int, seconds: float) -> None:
    key = ("request", route, method, str(status))
    children = _CHILDREN.get(key)
    if children is None:
        children = (REQUESTS.labels(route, method, key[3]), LATENCY.labels(route, method))
        if len(_CHILDREN) < _MAX_CHILDREN:
            _CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


def ceremony(kind: str, outcome: str, code: str = "") -> None:
    key = ("ceremony", kind, outcome, code)
    children = _CHILDREN.get(key)
    if children is None:
        children = (CEREMONIES.labels(kind, outcome, code),)
        if len(_CHILDREN) < _MAX_CHILDREN:
            _CHILDREN[key] = children
    children[0].inc()


CHALLENGE_PUT = CHALLENGE_STORE.labels("put")
CHALLENGE_TAKE = CHALLENGE_STORE.labels("take")
