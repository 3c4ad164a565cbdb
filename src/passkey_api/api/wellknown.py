"""/.well-known/*: what Android, iOS and browsers fetch from the RP ID's domain to trust
the apps and related sites configured in the one origin registry (config/).

Each document is served only when something is configured for it (404 otherwise). Serve
the service on the RP ID's domain (or proxy these paths to it) for them to take effect.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from passkey_api.config import Settings
from passkey_api.errors import NotFound
from passkey_api.web.resources import SettingsDep

router = APIRouter(prefix="/.well-known", include_in_schema=False)


def assetlinks(settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "relation": [
                "delegate_permission/common.get_login_creds",
                "delegate_permission/common.handle_all_urls",
            ],
            "target": {
                "namespace": "android_app",
                "package_name": app.package,
                "sha256_cert_fingerprints": list(app.sha256_cert_fingerprints),
            },
        }
        for app in settings.android_apps
    ]


def apple_app_site_association(settings: Settings) -> dict[str, Any]:
    return {"webcredentials": {"apps": [app.app_id for app in settings.ios_apps]}}


def related_origins(settings: Settings) -> dict[str, Any]:
    return {"origins": settings.web_origins}


@router.get("/assetlinks.json")
async def get_assetlinks(settings: SettingsDep) -> JSONResponse:
    if not settings.android_apps:
        raise NotFound("No Android apps are configured (PASSKEY_ANDROID_APPS).")
    return JSONResponse(assetlinks(settings))


@router.get("/apple-app-site-association")
async def get_apple_app_site_association(settings: SettingsDep) -> JSONResponse:
    if not settings.ios_apps:
        raise NotFound("No iOS apps are configured (PASSKEY_IOS_APPS).")
    return JSONResponse(apple_app_site_association(settings))


@router.get("/webauthn")
async def get_related_origins(settings: SettingsDep) -> JSONResponse:
    if not settings.related_origins:
        raise NotFound("No related origins are configured (PASSKEY_RELATED_ORIGINS).")
    return JSONResponse(related_origins(settings))
