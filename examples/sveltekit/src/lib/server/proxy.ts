// The same-origin bridge: /api/<path> on this app is passkey-api's /<path>. The browser
// only ever talks to this origin, so the API's HttpOnly session cookie is first-party and
// SameSite=Lax holds; passkey-api still sees the browser's Origin (CSRF check and WebAuthn
// origin), User-Agent and address.
import type { RequestEvent } from '@sveltejs/kit';
import { FORWARDED_RESPONSE_HEADERS, apiUrl, forwardedHeaders } from './api';

const PREFIX = '/api';

function problem(status: number, code: string, title: string, detail: string): Response {
	return new Response(
		JSON.stringify({ type: `about:blank#${code}`, title, status, detail, code }),
		{ status, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store' } }
	);
}

export async function proxy(event: RequestEvent): Promise<Response> {
	// The raw (still percent-encoded) path, so ids reach the API exactly as the client sent them.
	const path = event.url.pathname.slice(PREFIX.length);
	// Only the versioned JSON API: not the demo page, /docs or /openapi.json.
	if (!path.startsWith('/v1/')) {
		return problem(404, 'not_found', 'Not found', `${PREFIX}${path} is not part of the API.`);
	}
	const { method } = event.request;
	const hasBody = method !== 'GET' && method !== 'HEAD';
	let upstream: Response;
	try {
		upstream = await fetch(apiUrl() + path + event.url.search, {
			method,
			headers: forwardedHeaders(event),
			body: hasBody ? await event.request.arrayBuffer() : undefined,
			redirect: 'manual',
			signal: AbortSignal.timeout(30_000)
		});
	} catch (error) {
		console.error(`passkey-api unreachable for ${method} ${path}:`, error);
		return problem(
			502,
			'api_unreachable',
			'The passkey service is unreachable',
			'The passkey service did not answer. Try again in a moment.'
		);
	}
	const headers = new Headers();
	for (const name of FORWARDED_RESPONSE_HEADERS) {
		const value = upstream.headers.get(name);
		if (value !== null) headers.set(name, value);
	}
	// Each Set-Cookie as the API wrote it (HttpOnly, SameSite, Path, Expires): it now
	// belongs to this origin, which is the point. getSetCookie() keeps them apart.
	for (const cookie of upstream.headers.getSetCookie()) headers.append('set-cookie', cookie);
	return new Response(upstream.body, { status: upstream.status, headers });
}
