// The browser half of every ceremony: feature detection, navigator.credentials with the
// WebAuthn Level 3 JSON helpers, readable messages for the DOMExceptions it throws, and the
// Signal API that keeps password managers in step with the server.
import { localProblem } from './api/problem';
import type { CreationOptions, Outcome, Problem, RequestOptions, Signals } from './api/types';

/** The Signal API is newer than TypeScript's DOM types. */
type SignalApi = {
	signalAllAcceptedCredentials?: (options: Signals['all_accepted_credentials']) => Promise<void>;
	signalCurrentUserDetails?: (options: Signals['current_user_details']) => Promise<void>;
	signalUnknownCredential?: (options: { rpId: string; credentialId: string }) => Promise<void>;
};

/** WebAuthn with the L3 JSON helpers (Chrome 129+, Firefox 119+, Safari 18.4+). */
export function webauthnSupported(): boolean {
	return (
		typeof window !== 'undefined' &&
		typeof window.PublicKeyCredential === 'function' &&
		typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function' &&
		typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function'
	);
}

/** Whether passkeys can be offered in the username field's autofill suggestions. */
export async function autofillSupported(): Promise<boolean> {
	if (!webauthnSupported() || !PublicKeyCredential.isConditionalMediationAvailable) return false;
	try {
		return await PublicKeyCredential.isConditionalMediationAvailable();
	} catch {
		return false;
	}
}

/**
 * Whether the browser can make a passkey without a dialog right after a sign-in without
 * one (WebAuthn L3 conditional create: `mediation: "conditional"`).
 */
export async function conditionalCreateSupported(): Promise<boolean> {
	if (!webauthnSupported() || !PublicKeyCredential.getClientCapabilities) return false;
	try {
		return (await PublicKeyCredential.getClientCapabilities()).conditionalCreate === true;
	} catch {
		return false;
	}
}

export const UNSUPPORTED = localProblem(
	'unsupported',
	'This browser does not support passkeys. Use a recent Chrome, Edge, Firefox or Safari.'
);

// What each DOMException means to the person in front of the screen.
const MESSAGES: Record<string, [code: string, detail: string]> = {
	NotAllowedError: [
		'cancelled',
		'The passkey prompt was cancelled or timed out, or no passkey was found. ' +
			'With an older security key, sign in with your username.'
	],
	InvalidStateError: [
		'already_registered',
		'This authenticator already holds a passkey for this account.'
	],
	AbortError: ['aborted', 'The passkey request was stopped.'],
	SecurityError: [
		'security_error',
		"This site's address does not match the passkey service's RP ID (check PASSKEY_RP_ID)."
	],
	NotSupportedError: ['not_supported', 'This authenticator cannot create a suitable passkey.']
};

export function browserProblem(error: unknown): Problem {
	const name = error instanceof DOMException ? error.name : '';
	const [code, detail] = MESSAGES[name] ?? [
		'webauthn_error',
		error instanceof Error ? error.message : String(error)
	];
	return localProblem(code, detail);
}

// The browser resolved with null instead of a credential: as good as cancelled.
const NO_CREDENTIAL = {
	ok: false,
	problem: browserProblem(new DOMException('No credential was returned.', 'NotAllowedError'))
} as const;

/** navigator.credentials.create() from the API's creation options; credential.toJSON(). */
export async function createCredential(
	options: CreationOptions,
	{ mediation, signal }: { mediation?: 'conditional'; signal?: AbortSignal } = {}
): Promise<Outcome<PublicKeyCredentialJSON>> {
	if (!webauthnSupported()) return { ok: false, problem: UNSUPPORTED };
	try {
		const credential = (await navigator.credentials.create({
			// The schema types the options loosely; the browser validates them.
			publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(
				options as unknown as PublicKeyCredentialCreationOptionsJSON
			),
			// TypeScript's DOM types do not know `mediation` on create() yet.
			...(mediation ? { mediation } : {}),
			signal
		} as CredentialCreationOptions)) as PublicKeyCredential | null;
		if (!credential) return NO_CREDENTIAL;
		return { ok: true, data: credential.toJSON() };
	} catch (error) {
		return { ok: false, problem: browserProblem(error) };
	}
}

/** navigator.credentials.get() from the API's request options; credential.toJSON(). */
export async function getCredential(
	options: RequestOptions,
	{ mediation, signal }: { mediation?: CredentialMediationRequirement; signal?: AbortSignal } = {}
): Promise<Outcome<PublicKeyCredentialJSON>> {
	if (!webauthnSupported()) return { ok: false, problem: UNSUPPORTED };
	try {
		const credential = (await navigator.credentials.get({
			publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(
				options as unknown as PublicKeyCredentialRequestOptionsJSON
			),
			mediation,
			signal
		})) as PublicKeyCredential | null;
		if (!credential) return NO_CREDENTIAL;
		return { ok: true, data: credential.toJSON() };
	} catch (error) {
		return { ok: false, problem: browserProblem(error) };
	}
}

const signalApi = (): SignalApi =>
	typeof window !== 'undefined' && window.PublicKeyCredential
		? (PublicKeyCredential as unknown as SignalApi)
		: {};

/**
 * Tells the browser and password managers which passkeys the server still accepts and the
 * user's current names, so deleted passkeys stop being offered and renamed users show up
 * right. Best effort: browsers without the Signal API simply skip it.
 */
export async function signal(signals: Signals | null | undefined): Promise<void> {
	if (!signals) return;
	const browser = signalApi();
	await Promise.allSettled([
		browser.signalAllAcceptedCredentials?.(signals.all_accepted_credentials),
		browser.signalCurrentUserDetails?.(signals.current_user_details)
	]);
}

/** A passkey the server does not know (its account is gone): let the authenticator forget it. */
export async function signalUnknown(problem: Problem): Promise<void> {
	const unknown = problem.signal_unknown_credential;
	if (problem.code !== 'unknown_credential' || !unknown) return;
	await Promise.allSettled([signalApi().signalUnknownCredential?.(unknown)]);
}
