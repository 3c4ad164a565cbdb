import { redirect, type Handle } from '@sveltejs/kit';
import { resolveSession } from '$lib/server/session';

// Pages that need a signed-in user; the role is checked where the page loads its data
// (src/routes/admin/+page.server.ts), so that a refusal renders the app's 403 page.
const SIGNED_IN_ONLY = ['/account', '/admin'];

const needsSignIn = (pathname: string) =>
	SIGNED_IN_ONLY.some((prefix) => pathname === prefix || pathname.startsWith(prefix + '/'));

export const handle: Handle = async ({ event, resolve }) => {
	event.locals.user = null;
	event.locals.session = null;
	event.locals.sessionEnded = false;
	event.locals.apiCookies = [];

	// /api/* is forwarded to passkey-api as it is, and the API checks the cookie itself:
	// looking the session up here too would only double the round trips.
	if (event.url.pathname.startsWith('/api/')) return resolve(event);

	const { current, ended } = await resolveSession(event);
	event.locals.user = current?.user ?? null;
	event.locals.session = current?.session ?? null;
	event.locals.sessionEnded = ended;

	// Also runs for the __data.json requests of client-side navigation (the protected pages
	// have server load functions for that reason), where SvelteKit turns it into a
	// client-side redirect. Only signed-out visitors get here, so no renewed session
	// cookie from the API can be lost with the thrown redirect.
	if (!event.locals.user && needsSignIn(event.url.pathname)) {
		const back = event.url.pathname + event.url.search;
		redirect(303, `/signin?redirectTo=${encodeURIComponent(back)}`);
	}

	// A recovery session (a recovery code or an emailed link) may only add a passkey: the
	// account's pages would all answer 403, so it goes on to that step instead.
	if (event.locals.session?.scope === 'recovery' && needsSignIn(event.url.pathname)) {
		redirect(303, '/recover');
	}

	const response = await resolve(event);
	for (const cookie of event.locals.apiCookies) response.headers.append('set-cookie', cookie);
	return response;
};
