import type { RequestHandler } from './$types';

// Liveness of this app alone (for a container's health check and the tests): it does not
// ask passkey-api, whose own /readyz says whether it can serve.
export const GET: RequestHandler = () =>
	new Response('ok\n', { headers: { 'content-type': 'text/plain', 'cache-control': 'no-store' } });
