import type { RequestEvent } from '@sveltejs/kit';
import type { Session, User } from '$lib/api/types';
import { serverApi } from './api';

/**
 * The signed-in user behind the browser's cookie, from GET /v1/session. Every request asks
 * the API (it reads the database), so a session revoked from another device is gone on the
 * very next page load.
 */
export async function resolveSession(
	event: RequestEvent
): Promise<{ user: User; session: Session } | null> {
	// `passkey_session` or `__Host-passkey_session`: without one there is nobody to look up.
	if (!event.request.headers.get('cookie')?.includes('passkey_session=')) return null;
	try {
		const { data } = await serverApi(event).GET('/v1/session');
		return data ?? null;
	} catch (error) {
		// The API is down: treat the visitor as signed out rather than failing every page.
		console.error('passkey-api unreachable while resolving the session:', error);
		return null;
	}
}
