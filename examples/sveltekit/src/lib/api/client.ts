// The browser's typed client. Every call goes to this app's own origin under /api: the
// SvelteKit server forwards it to passkey-api (src/routes/api/[...path]/+server.ts), so
// the session cookie is first-party and no CORS is involved.
import createClient from 'openapi-fetch';
import { asProblem, localProblem } from './problem';
import type { paths } from './schema';
import type { Outcome } from './types';

export const api = createClient<paths>({ baseUrl: '/api', credentials: 'same-origin' });

type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/** Runs an openapi-fetch call and folds its three endings (data, problem, no answer). */
export async function call<T>(request: Promise<FetchResult<T>>): Promise<Outcome<T>> {
	let result: FetchResult<T>;
	try {
		result = await request;
	} catch (error) {
		return {
			ok: false,
			problem: localProblem('network_error', `The server could not be reached (${String(error)}).`)
		};
	}
	if (result.response.ok) return { ok: true, data: result.data as T };
	return { ok: false, problem: asProblem(result.error, result.response) };
}
