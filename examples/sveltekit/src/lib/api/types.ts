// Short names for the schemas generated from openapi.json (see schema.d.ts).
import type { components } from './schema';

type Schemas = components['schemas'];

export type User = Schemas['UserOut'];
export type Session = Schemas['SessionOut'];
export type SignedIn = Schemas['SignedIn'];
export type Signals = Schemas['Signals'];
export type Passkey = Schemas['PasskeyOut'];
export type PasskeyList = Schemas['PasskeyList'];
export type SessionItem = Schemas['SessionListItem'];
export type AdminUser = Schemas['AdminUserOut'];
export type AdminUserPage = Schemas['AdminUserPage'];
export type Hint = NonNullable<Schemas['AuthenticationOptionsRequest']['hints']>[number];
export type Attachment = NonNullable<Schemas['RegistrationOptionsRequest']['attachment']>;
export type Purpose = Schemas['ReauthenticationOptionsRequest']['purpose'];
export type AuthenticationRequest = Schemas['AuthenticationOptionsRequest'];
export type AddPasskeyRequest = Schemas['AddPasskeyOptionsRequest'];
export type CreationOptions = Schemas['CreationOptionsJSON'];
export type RequestOptions = Schemas['RequestOptionsJSON'];

/**
 * An RFC 9457 problem from passkey-api. `code` is the stable reason to branch on; some
 * codes carry extensions (`purpose` on reauthentication_required,
 * `signal_unknown_credential` on unknown_credential). Failures that never reached the API
 * (the browser's WebAuthn errors, the network) use the same shape with status 0.
 */
export type Problem = Schemas['Problem'] & {
	purpose?: Purpose;
	signal_unknown_credential?: { rpId: string; credentialId: string };
	[extension: string]: unknown;
};

/** What every client-side operation returns: the data, or a problem to show. */
export type Outcome<T> = { ok: true; data: T } | { ok: false; problem: Problem };

export type PasskeyAdded = Schemas['PasskeyAdded'];
export type Safeguard = Schemas['SafeguardOut'];
export type Identity = Schemas['IdentityOut'];
export type OAuthProvider = Schemas['passkey_api__oauth__schemas__ProviderOut'];
export type RecoveryCodesStatus = Schemas['RecoveryCodesStatus'];
export type RecoveryEmail = Schemas['EmailOut'];
