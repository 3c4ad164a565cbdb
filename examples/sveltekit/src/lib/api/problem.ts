import type { Problem } from './types';

/** A problem for failures that never got an answer from passkey-api (status 0). */
export function localProblem(code: string, detail: string, title = detail): Problem {
	return { type: `about:blank#${code}`, title, status: 0, detail, code };
}

/**
 * Whatever came back as an error body, as a Problem: passkey-api always answers with
 * problem+json, but a proxy or load balancer in between may not.
 */
export function asProblem(body: unknown, response: Response): Problem {
	if (typeof body === 'object' && body !== null && 'code' in body && 'detail' in body) {
		return body as Problem;
	}
	const detail = typeof body === 'string' && body ? body : response.statusText || 'Request failed';
	return {
		type: 'about:blank',
		title: response.statusText || 'Request failed',
		status: response.status,
		detail,
		code: `http_${response.status}`
	};
}

export const isProblem = (problem: Problem, code: string): boolean => problem.code === code;
