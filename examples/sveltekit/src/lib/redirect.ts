/**
 * Where to go after signing in: `redirectTo` when it is a path on this site, otherwise the
 * account page. Anything else ("//evil.example", "https://...") would be an open redirect.
 */
export function safeRedirect(target: string | null | undefined, fallback = '/account'): string {
	if (!target || !target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) {
		return fallback;
	}
	return target;
}
