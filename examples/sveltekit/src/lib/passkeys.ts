// The ceremonies as the app uses them: ask passkey-api for options, run them through the
// browser, post credential.toJSON() back. Each returns an Outcome, never throws.
import { api, call } from './api/client';
import { isProblem } from './api/problem';
import type {
	AddPasskeyRequest,
	AuthenticationRequest,
	Hint,
	Outcome,
	PasskeyAdded,
	Purpose,
	SignedIn
} from './api/types';
import { createCredential, getCredential, signal, signalUnknown } from './webauthn';

/** "Use a passkey from another device": a phone over QR/hybrid, or a security key. */
export const OTHER_DEVICE: Hint[] = ['hybrid', 'security-key'];

export async function signUp(
	username: string,
	displayName: string,
	hints: Hint[] = []
): Promise<Outcome<SignedIn>> {
	const options = await call(
		api.POST('/v1/registration/options', {
			body: { username, display_name: displayName || null, hints }
		})
	);
	if (!options.ok) return options;
	const credential = await createCredential(options.data);
	if (!credential.ok) return credential;
	const signedIn = await call(api.POST('/v1/registration/verify', { body: credential.data }));
	if (signedIn.ok) await signal(signedIn.data.signals);
	return signedIn;
}

/**
 * Sign in. `{}` asks for any discoverable passkey of this site (autofill, or the browser's
 * own picker); `{username}` lists that account's passkeys, for keys that hold none.
 */
export async function signIn(
	request: AuthenticationRequest,
	browser: { mediation?: CredentialMediationRequirement; signal?: AbortSignal } = {}
): Promise<Outcome<SignedIn>> {
	const options = await call(api.POST('/v1/authentication/options', { body: request }));
	if (!options.ok) return options;
	const credential = await getCredential(options.data, browser);
	if (!credential.ok) return credential;
	const signedIn = await call(api.POST('/v1/authentication/verify', { body: credential.data }));
	if (signedIn.ok) await signal(signedIn.data.signals);
	else await signalUnknown(signedIn.problem);
	return signedIn;
}

export async function signOut(): Promise<Outcome<undefined>> {
	return call(api.DELETE('/v1/session'));
}

/** Step-up ("sudo mode"): confirm it is the user, with user verification, for `purpose`. */
export async function reauthenticate(purpose: Purpose): Promise<Outcome<{ valid_until: string }>> {
	const options = await call(api.POST('/v1/session/reauthenticate/options', { body: { purpose } }));
	if (!options.ok) return options;
	const credential = await getCredential(options.data);
	if (!credential.ok) return credential;
	return call(api.POST('/v1/session/reauthenticate/verify', { body: credential.data }));
}

/**
 * What the page says while a sensitive action runs, so that it follows the browser: the
 * step-up prompt first ("confirm it is you with one of your passkeys"), then the action's
 * own prompt again (`again`: after a step-up).
 */
export type StepUpNotices = {
	onStepUp?: (purpose: Purpose) => void;
	onRetry?: () => void;
};

export const STEP_UP_PROMPT = 'First confirm it is you with one of your passkeys…';

/**
 * Runs a sensitive action. When passkey-api answers 403 `reauthentication_required`, the
 * user steps up for the purpose it names (a passkey prompt) and the action runs once more.
 * The app never guesses which actions are sensitive: the API decides.
 */
export async function withStepUp<T>(
	action: () => Promise<Outcome<T>>,
	notices: StepUpNotices = {}
): Promise<Outcome<T>> {
	const first = await action();
	if (first.ok || !isProblem(first.problem, 'reauthentication_required')) return first;
	const purpose = first.problem.purpose;
	if (!purpose) return first;
	notices.onStepUp?.(purpose);
	const stepped = await reauthenticate(purpose);
	if (!stepped.ok) return stepped;
	notices.onRetry?.();
	return action();
}

/**
 * Adds a passkey to the signed-in account (a security key, a phone, this device).
 * `onCreate(again)` runs just before the browser's prompt for the new passkey opens
 * (`again` when a step-up prompt came first). With `mediation: "conditional"` the browser
 * may make it without a dialog (conditional create, after a sign-in without a passkey);
 * the API is told, as it then accepts a response without user presence.
 */
export async function addPasskey(
	request: AddPasskeyRequest,
	{
		onStepUp,
		onCreate,
		signal: abort
	}: {
		onStepUp?: (purpose: Purpose) => void;
		onCreate?: (again: boolean) => void;
		signal?: AbortSignal;
	} = {}
): Promise<Outcome<PasskeyAdded>> {
	let again = false;
	const options = await withStepUp(
		() => call(api.POST('/v1/me/passkeys/options', { body: request })),
		{ onStepUp, onRetry: () => (again = true) }
	);
	if (!options.ok) return options;
	onCreate?.(again);
	const mediation = request.mediation === 'conditional' ? 'conditional' : undefined;
	const credential = await createCredential(options.data, { mediation, signal: abort });
	if (!credential.ok) return credential;
	return call(api.POST('/v1/me/passkeys/verify', { body: credential.data }));
}

/** "Lost your passkey?": a recovery code for a recovery session (it may only add a passkey). */
export async function recoverWithCode(username: string, code: string): Promise<Outcome<SignedIn>> {
	return call(api.POST('/v1/recovery/verify', { body: { username, code } }));
}

/** Asks for a recovery link by email; the answer is the same whether the address is known. */
export async function requestRecoveryLink(email: string): Promise<Outcome<unknown>> {
	return call(api.POST('/v1/recovery/email', { body: { email } }));
}

/** The emailed link's token (from the fragment) for a recovery session. */
export async function recoverWithLink(token: string): Promise<Outcome<SignedIn>> {
	return call(api.POST('/v1/recovery/email/verify', { body: { token } }));
}
