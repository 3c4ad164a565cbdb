"""Every failure the API reports, as RFC 9457 problem details with a stable `code`.

Codes are part of the contract: clients branch on them, so they are added, never renamed.
One module per part of the service that answers them; every name is also here, so
`from passkey_api.errors import UsernameTaken` reads the same wherever a code lives.
"""

from passkey_api.errors.accounts import (
    STEP_UP_ERRORS as STEP_UP_ERRORS,
)
from passkey_api.errors.accounts import (
    AccountDisabled as AccountDisabled,
)
from passkey_api.errors.accounts import (
    EmailTaken as EmailTaken,
)
from passkey_api.errors.accounts import (
    FreshSignInRequired as FreshSignInRequired,
)
from passkey_api.errors.accounts import (
    LastAdmin as LastAdmin,
)
from passkey_api.errors.accounts import (
    LastPasskey as LastPasskey,
)
from passkey_api.errors.accounts import (
    LastSignInMethod as LastSignInMethod,
)
from passkey_api.errors.accounts import (
    NotAuthenticated as NotAuthenticated,
)
from passkey_api.errors.accounts import (
    NotFound as NotFound,
)
from passkey_api.errors.accounts import (
    PasskeyRequired as PasskeyRequired,
)
from passkey_api.errors.accounts import (
    RateLimited as RateLimited,
)
from passkey_api.errors.accounts import (
    ReauthenticationRequired as ReauthenticationRequired,
)
from passkey_api.errors.accounts import (
    RoleRequired as RoleRequired,
)
from passkey_api.errors.accounts import (
    TooManyPasskeys as TooManyPasskeys,
)
from passkey_api.errors.availability import (
    ChallengeStoreFull as ChallengeStoreFull,
)
from passkey_api.errors.availability import (
    ChallengeStoreUnavailable as ChallengeStoreUnavailable,
)
from passkey_api.errors.availability import (
    DatabaseUnavailable as DatabaseUnavailable,
)
from passkey_api.errors.availability import (
    MailQueueFull as MailQueueFull,
)
from passkey_api.errors.availability import (
    RecoveryBusy as RecoveryBusy,
)
from passkey_api.errors.availability import (
    RequestTimeout as RequestTimeout,
)
from passkey_api.errors.availability import (
    ServerBusy as ServerBusy,
)
from passkey_api.errors.availability import (
    SessionCacheUnavailable as SessionCacheUnavailable,
)
from passkey_api.errors.ceremonies import (
    ASSERTION_ERRORS as ASSERTION_ERRORS,
)
from passkey_api.errors.ceremonies import (
    ATTESTATION_ERRORS as ATTESTATION_ERRORS,
)
from passkey_api.errors.ceremonies import (
    CEREMONY_ERRORS as CEREMONY_ERRORS,
)
from passkey_api.errors.ceremonies import (
    AuthenticatorCompromised as AuthenticatorCompromised,
)
from passkey_api.errors.ceremonies import (
    AuthenticatorNotAllowed as AuthenticatorNotAllowed,
)
from passkey_api.errors.ceremonies import (
    BackupEligibilityChanged as BackupEligibilityChanged,
)
from passkey_api.errors.ceremonies import (
    CeremonyMismatch as CeremonyMismatch,
)
from passkey_api.errors.ceremonies import (
    ChallengeExpired as ChallengeExpired,
)
from passkey_api.errors.ceremonies import (
    ClientDataTypeMismatch as ClientDataTypeMismatch,
)
from passkey_api.errors.ceremonies import (
    CredentialExists as CredentialExists,
)
from passkey_api.errors.ceremonies import (
    CredentialIdTooLong as CredentialIdTooLong,
)
from passkey_api.errors.ceremonies import (
    CredentialNotAllowed as CredentialNotAllowed,
)
from passkey_api.errors.ceremonies import (
    CrossOriginRefused as CrossOriginRefused,
)
from passkey_api.errors.ceremonies import (
    InvalidBase64Url as InvalidBase64Url,
)
from passkey_api.errors.ceremonies import (
    InvalidCredential as InvalidCredential,
)
from passkey_api.errors.ceremonies import (
    InvalidPublicKey as InvalidPublicKey,
)
from passkey_api.errors.ceremonies import (
    InvalidUsername as InvalidUsername,
)
from passkey_api.errors.ceremonies import (
    MalformedAttestation as MalformedAttestation,
)
from passkey_api.errors.ceremonies import (
    MalformedAuthenticatorData as MalformedAuthenticatorData,
)
from passkey_api.errors.ceremonies import (
    MalformedClientData as MalformedClientData,
)
from passkey_api.errors.ceremonies import (
    MalformedJson as MalformedJson,
)
from passkey_api.errors.ceremonies import (
    OriginMismatch as OriginMismatch,
)
from passkey_api.errors.ceremonies import (
    RpIdMismatch as RpIdMismatch,
)
from passkey_api.errors.ceremonies import (
    SignCountRegression as SignCountRegression,
)
from passkey_api.errors.ceremonies import (
    UnknownCredential as UnknownCredential,
)
from passkey_api.errors.ceremonies import (
    UnsupportedAlgorithm as UnsupportedAlgorithm,
)
from passkey_api.errors.ceremonies import (
    UntrustedPublicKey as UntrustedPublicKey,
)
from passkey_api.errors.ceremonies import (
    UserHandleMismatch as UserHandleMismatch,
)
from passkey_api.errors.ceremonies import (
    UserHandleMissing as UserHandleMissing,
)
from passkey_api.errors.ceremonies import (
    UsernameTaken as UsernameTaken,
)
from passkey_api.errors.ceremonies import (
    UserPresenceRequired as UserPresenceRequired,
)
from passkey_api.errors.ceremonies import (
    UserVerificationRequired as UserVerificationRequired,
)
from passkey_api.errors.ceremonies import (
    ValidationFailed as ValidationFailed,
)
from passkey_api.errors.oauth import (
    AccountExistsSignInFirst as AccountExistsSignInFirst,
)
from passkey_api.errors.oauth import (
    IdentityInUse as IdentityInUse,
)
from passkey_api.errors.oauth import (
    OAuthBrowserMismatch as OAuthBrowserMismatch,
)
from passkey_api.errors.oauth import (
    OAuthCodeChallengeRequired as OAuthCodeChallengeRequired,
)
from passkey_api.errors.oauth import (
    OAuthCodeInvalid as OAuthCodeInvalid,
)
from passkey_api.errors.oauth import (
    OAuthCodeRejected as OAuthCodeRejected,
)
from passkey_api.errors.oauth import (
    OAuthCodeVerifierMismatch as OAuthCodeVerifierMismatch,
)
from passkey_api.errors.oauth import (
    OAuthDenied as OAuthDenied,
)
from passkey_api.errors.oauth import (
    OAuthIdTokenExpired as OAuthIdTokenExpired,
)
from passkey_api.errors.oauth import (
    OAuthIdTokenInvalid as OAuthIdTokenInvalid,
)
from passkey_api.errors.oauth import (
    OAuthNonceMismatch as OAuthNonceMismatch,
)
from passkey_api.errors.oauth import (
    OAuthProviderError as OAuthProviderError,
)
from passkey_api.errors.oauth import (
    OAuthProviderUnavailable as OAuthProviderUnavailable,
)
from passkey_api.errors.oauth import (
    OAuthProviderUnknown as OAuthProviderUnknown,
)
from passkey_api.errors.oauth import (
    OAuthStateInvalid as OAuthStateInvalid,
)
from passkey_api.errors.oauth import (
    RedirectNotAllowed as RedirectNotAllowed,
)
from passkey_api.errors.problem import (
    PROBLEM_CONTENT_TYPE as PROBLEM_CONTENT_TYPE,
)
from passkey_api.errors.problem import (
    ApiError as ApiError,
)
from passkey_api.errors.problem import (
    instance_of as instance_of,
)
from passkey_api.errors.problem import (
    problem_body as problem_body,
)
from passkey_api.errors.recovery import (
    EmailRecoveryDisabled as EmailRecoveryDisabled,
)
from passkey_api.errors.recovery import (
    InvalidEmail as InvalidEmail,
)
from passkey_api.errors.recovery import (
    RecoveryFailed as RecoveryFailed,
)
from passkey_api.errors.recovery import (
    RecoveryLinkInvalid as RecoveryLinkInvalid,
)
from passkey_api.errors.recovery import (
    RecoverySessionRestricted as RecoverySessionRestricted,
)
