// Server-side access to passkey-api: where it is, which request headers travel with a call
// made on the browser's behalf, and a typed client for load functions.
import type { RequestEvent } from '@sveltejs/kit';
import createClient from 'openapi-fetch';
import { env } from '$env/dynamic/private';
import type { paths } from '$lib/api/schema';

/** Where passkey-api listens; read at request time so `node build` honours the environment. */
export function apiUrl(): string {
	return (env.PASSKEY_API_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
}

// What the API needs from the browser's request: the session (cookie or bearer), the
// Origin for its CSRF check, the User-Agent it records on sessions, the body's type, and
// a request id to find the call in the API's logs. Everything else (Host,
// Accept-Encoding, Sec-Fetch-*, ...) describes the hop to this server and stays behind.
const FORWARDED_REQUEST_HEADERS = [
	'cookie',
	'origin',
	'user-agent',
	'content-type',
	'authorization',
	'x-client-type',
	'x-request-id'
];

/**
 * Answer headers that mean something to the browser; Set-Cookie is handled apart.
 * Location carries the social sign-in's redirects (to the provider, back to the app).
 */
export const FORWARDED_RESPONSE_HEADERS = [
	'location',
	'content-type',
	'cache-control',
	'retry-after',
	'x-request-id'
];

export function forwardedHeaders(event: RequestEvent): Headers {
	const headers = new Headers();
	for (const name of FORWARDED_REQUEST_HEADERS) {
		const value = event.request.headers.get(name);
		if (value !== null) headers.set(name, value);
	}
	// The browser's address, for the API's rate limits, session list and audit trail. It is
	// believed only because passkey-api lists this server in PASSKEY_TRUSTED_PROXIES; any
	// X-Forwarded-For the browser sent is dropped, so it cannot pick its own address.
	// (Behind another proxy, set adapter-node's ADDRESS_HEADER / XFF_DEPTH.)
	headers.set('x-forwarded-for', event.getClientAddress());
	return headers;
}

/**
 * A typed client for calls a load function makes for the signed-in browser. Set-Cookie
 * answers (a sliding session renewing its cookie) are kept in `locals.apiCookies`;
 * hooks.server.ts adds them to the page's response.
 */
export function serverApi(event: RequestEvent) {
	return createClient<paths>({
		baseUrl: apiUrl(),
		headers: Object.fromEntries(forwardedHeaders(event)),
		fetch: async (request) => {
			const response = await fetch(request);
			event.locals.apiCookies.push(...response.headers.getSetCookie());
			return response;
		}
	});
}
