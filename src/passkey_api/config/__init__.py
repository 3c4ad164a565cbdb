"""The service's settings: Settings (settings.py), the only settings object, read from the
PASSKEY_* variables, with its parts (origins.py, providers.py, secrets.py); check.py is
what `check-config` and `serve` refuse beyond it. Imports nothing else of ours."""

from passkey_api.config.origins import AndroidApp as AndroidApp
from passkey_api.config.origins import IosApp as IosApp
from passkey_api.config.origins import origin_of as origin_of
from passkey_api.config.providers import OAuthProvider as OAuthProvider
from passkey_api.config.secrets import MissingSecretKey as MissingSecretKey
from passkey_api.config.secrets import SecretKey as SecretKey
from passkey_api.config.settings import DEFAULT_MDS_ROOT as DEFAULT_MDS_ROOT
from passkey_api.config.settings import RATE_PATTERN as RATE_PATTERN
from passkey_api.config.settings import Lifetimes as Lifetimes
from passkey_api.config.settings import Settings as Settings
from passkey_api.config.settings import public_url as public_url
from passkey_api.config.settings import split_list as split_list
