import type { RequestEvent } from '@sveltejs/kit';
import type { Session, User } from '$lib/api/types';
import { serverApi } from './api';

export type Resolved = {
	current: { user: User; session: Session } | null;
	/**
	 * The browser still holds a session cookie the API refuses. The cookie expires with its
	 * session, and signing out here clears it, so this session was ended elsewhere: signed
	 * out from another device (or the account was disabled).
	 */
	ended: boolean;
};

/**
 * The signed-in user behind the browser's cookie, from GET /v1/session. Every request asks
 * the API (it reads the database), so a session revoked from another device is gone on the
 * very next page load.
 */
export async function resolveSession(event: RequestEvent): Promise<Resolved> {
	// `passkey_session` or `__Host-passkey_session`: without one there is nobody to look up.
	if (!event.request.headers.get('cookie')?.includes('passkey_session=')) {
		return { current: null, ended: false };
	}
	try {
		const { data, response } = await serverApi(event).GET('/v1/session');
		return { current: data ?? null, ended: response.status === 401 };
	} catch (error) {
		// The API is down: treat the visitor as signed out rather than failing every page.
		console.error('passkey-api unreachable while resolving the session:', error);
		return { current: null, ended: false };
	}
}
