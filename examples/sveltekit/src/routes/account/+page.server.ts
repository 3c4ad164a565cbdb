import { error, redirect } from '@sveltejs/kit';
import { serverApi } from '$lib/server/api';
import type { PageServerLoad } from './$types';

// hooks.server.ts has already sent signed-out visitors to /signin. The lists are fetched
// here, on the server, with the browser's cookie; the page calls invalidate('app:account')
// after each change to fetch them again.
export const load: PageServerLoad = async (event) => {
	event.depends('app:account');
	const api = serverApi(event);
	const [passkeys, sessions, identities, codes, email] = await Promise.all([
		api.GET('/v1/me/passkeys'),
		api.GET('/v1/me/sessions'),
		api.GET('/v1/me/identities'),
		api.GET('/v1/me/recovery-codes'),
		api.GET('/v1/me/email')
	]);
	const answers = [passkeys, sessions, identities, codes, email];
	if (answers.some(({ response }) => response.status === 401)) {
		// Signed out meanwhile (revoked from another device).
		redirect(303, `/signin?redirectTo=${encodeURIComponent('/account')}`);
	}
	if (!passkeys.data || !sessions.data || !identities.data || !codes.data) {
		const problem = passkeys.error ?? sessions.error ?? identities.error ?? codes.error;
		error(502, { message: problem?.detail ?? 'The passkey service failed.', code: problem?.code });
	}
	return {
		passkeys: passkeys.data,
		sessions: sessions.data.sessions,
		identities: identities.data,
		recoveryCodes: codes.data,
		// null when the service has no email recovery (404 email_recovery_disabled).
		recoveryEmail: email.data ?? null
	};
};
