/**
 * The token of an emailed link (`…#token=…`). It travels in the fragment, which browsers
 * never send to a server, so it stays out of logs and Referer headers; once read it is
 * taken out of the address bar and history too.
 */
export function takeToken(): string | null {
	const token = new URLSearchParams(window.location.hash.slice(1)).get('token');
	if (token) history.replaceState(history.state, '', window.location.pathname);
	return token;
}
