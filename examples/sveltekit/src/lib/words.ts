// What a person reads for each problem `code` of passkey-api: one sentence, with the code
// shown small beside it for support (Notice.svelte). The wording is the built-in page's
// (src/passkey_api/static/index.html), so both front ends say the same thing.
import type { Passkey, Problem } from './api/types';

const BUSY = 'The service is busy or partly unavailable. Wait a moment and try again.';
const FOREIGN =
	'The passkey was made for another site, or this page is open at an address the service ' +
	'does not serve.';
const COPIED =
	'This passkey looks copied, so it was refused to keep your account safe. Use another passkey.';
const UNACCEPTED =
	'This authenticator made a kind of passkey the service does not accept. Try another authenticator.';
const PROVIDER_FAILED =
	'The sign-in provider answered something that could not be trusted. Try again, or use a passkey.';

const WORDS: Record<string, string> = {
	malformed_json: 'The page sent something the service could not read. Reload the page.',
	validation_error: 'Something in the form is not right. Check it and try again.',
	invalid_base64url: 'The browser sent something the service could not read. Try again.',
	malformed_client_data: "The browser's answer could not be read. Try again.",
	malformed_attestation: "The authenticator's answer could not be read. Try another one.",
	malformed_authenticator_data: "The authenticator's answer could not be read. Try again.",
	invalid_username:
		'That username cannot be used. Use at most 64 characters, without control or invisible characters.',
	username_taken: 'That username is taken. Choose another, or sign in if it is yours.',
	challenge_expired: 'That took too long, or the request was already used. Try again.',
	ceremony_mismatch: 'The browser answered another request. Try again.',
	client_data_type_mismatch: 'The browser answered another request. Try again.',
	origin_mismatch: FOREIGN,
	rp_id_mismatch: FOREIGN,
	cross_origin_refused: FOREIGN,
	user_presence_required:
		'Your authenticator did not confirm you were there. Try again and touch it when asked.',
	user_verification_required:
		'Your authenticator did not check your PIN, fingerprint or face. Try again, or use another one.',
	invalid_credential:
		'That passkey did not work for this account. Try another passkey, or check the username.',
	invalid_public_key: UNACCEPTED,
	unsupported_algorithm: UNACCEPTED,
	credential_id_too_long: UNACCEPTED,
	untrusted_public_key:
		'This passkey is too old to be trusted now. Sign in with another one and delete it.',
	too_many_passkeys: 'Your account holds as many passkeys as it can. Delete one first.',
	unknown_credential:
		'This passkey is not known here: its account may be gone. Your browser has been asked to forget it.',
	user_handle_mismatch: 'That passkey belongs to another account.',
	user_handle_missing:
		'Your authenticator did not say which account the passkey is for. Enter your username and try again.',
	sign_count_regression: COPIED,
	backup_eligibility_changed: COPIED,
	credential_exists: 'That authenticator already holds a passkey registered here.',
	authenticator_not_allowed:
		'This service accepts only certain security keys, and this one is not among them, or ' +
		"could not prove which it is. Use another one, or ask the service's administrator which " +
		'keys are accepted.',
	authenticator_compromised:
		"The maker of this passkey's authenticator has reported it unsafe, so it no longer signs " +
		'in here. Sign in with another passkey and delete this one.',
	not_authenticated: 'Please sign in first.',
	forbidden: 'Your account is not allowed to do that.',
	account_disabled: "This account is disabled. Ask the service's administrator.",
	reauthentication_required: 'Confirm it is you with one of your passkeys first.',
	passkey_required: 'Add a passkey to your account first.',
	fresh_sign_in_required: 'Sign out and in again to do that: your sign-in is too old.',
	last_sign_in_method:
		'That is your last way to sign in, so it stays: without it you could not get back into ' +
		'your account. Add a passkey (or link another provider) first, then unlink this one.',
	last_passkey:
		'This is your only passkey: without it you could not sign in. Add another passkey first, ' +
		'then delete this one.',
	last_admin: 'This is the last administrator, so the role stays.',
	not_found: 'That is already gone: the list is up to date now.',
	origin_not_allowed: "The service does not trust this page's address.",
	payload_too_large: 'That was too much to send.',
	rate_limited: 'Too many attempts. Wait a minute and try again.',
	recovery_failed:
		'That username and recovery code do not work together. Check both; each code works once.',
	recovery_link_invalid:
		'That link does not work any more: it was used already, or it is too old. Ask for a new one.',
	recovery_session_restricted:
		'Add a new passkey first: a recovery code or link lets you do only that.',
	email_recovery_disabled: 'Recovery by email is not set up on this service.',
	invalid_email: 'That does not look like an email address. Check it and try again.',
	email_taken: 'That address already recovers another account. Use another address.',
	// Social sign-in: the provider sends the browser back with ?error=<code>.
	oauth_provider_unknown: 'That sign-in provider is not set up here.',
	redirect_not_allowed: 'The sign-in provider may not send you back to this page.',
	oauth_state_invalid: 'That sign-in was already finished, or took too long. Start it again.',
	oauth_browser_mismatch:
		'That sign-in was started in another browser. Start it again here, in this browser.',
	oauth_denied: 'The sign-in was cancelled at the provider, so nothing changed.',
	oauth_code_rejected: PROVIDER_FAILED,
	oauth_nonce_mismatch: PROVIDER_FAILED,
	oauth_id_token_invalid: PROVIDER_FAILED,
	oauth_id_token_expired: PROVIDER_FAILED,
	oauth_provider_error: PROVIDER_FAILED,
	oauth_provider_unavailable:
		'The sign-in provider did not answer. Try again in a moment, or use a passkey.',
	account_exists_sign_in_first:
		'An account with that email address already exists. Sign in to it with a passkey, then ' +
		'link this provider on your account page.',
	identity_in_use: 'That provider account already signs in to another account here.',
	challenge_store_unavailable: BUSY,
	database_unavailable: BUSY,
	challenge_store_full: BUSY,
	recovery_busy: BUSY,
	mail_queue_full: BUSY,
	request_timeout: BUSY,
	server_busy: BUSY,
	session_cache_unavailable: BUSY,
	api_unreachable: BUSY
};

/**
 * The sentence to show for a problem. Problems made in the browser (status 0: the
 * WebAuthn errors of webauthn.ts, the network) already carry one; the API's `detail` is
 * the fallback for a code this app does not know yet.
 */
export function sentenceFor(problem: Pick<Problem, 'code' | 'detail' | 'status'>): string {
	if (problem.status === 0) return problem.detail;
	return WORDS[problem.code] ?? problem.detail ?? 'Something went wrong. Try again.';
}

// What each status report of the authenticator metadata means for a passkey's owner.
const COMPROMISE: Record<string, string> = {
	ATTESTATION_KEY_COMPROMISE: "its maker's signing key leaked, so fakes can pass for it",
	USER_VERIFICATION_BYPASS: 'its PIN or fingerprint check can be bypassed',
	USER_KEY_REMOTE_COMPROMISE: 'the keys it holds can be stolen remotely',
	USER_KEY_PHYSICAL_COMPROMISE: 'the keys it holds can be copied by someone who has it in hand',
	REVOKED: 'the FIDO Alliance has withdrawn it'
};

/** The warning for a passkey whose model the metadata reports compromised, in words. */
export function compromiseWarning(compromised: NonNullable<Passkey['compromised']>): string {
	const why = COMPROMISE[compromised.status] ?? compromised.detail;
	const since = compromised.since ? ` (reported on ${compromised.since})` : '';
	const which = {
		model: 'This kind of authenticator is reported unsafe',
		certificate: 'A batch of this kind of authenticator is reported unsafe',
		// Its maker's certificate could not tell it apart from that other kind.
		shared_root: 'A kind of authenticator this one may be is reported unsafe'
	}[compromised.scope];
	return (
		`${which}: ${why}${since}. It may stop signing you in: add another passkey, ` +
		'then delete this one.'
	);
}

/** A problem for a bare code (a social sign-in's `?error=<code>`), in words. */
export function problemOfCode(code: string): Problem {
	return {
		type: `about:blank#${code}`,
		title: code,
		status: 400,
		detail: WORDS[code] ?? 'The sign-in did not work. Try again.',
		code
	};
}
