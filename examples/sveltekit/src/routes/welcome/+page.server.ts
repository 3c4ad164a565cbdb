import { redirect } from '@sveltejs/kit';
import { safeRedirect } from '$lib/redirect';
import { serverApi } from '$lib/server/api';
import type { PageServerLoad } from './$types';

// Where a social sign-in comes back (its redirect_to): with ?signed_in=<provider>, plus
// &passkey_suggested=true while the account has no passkey, or with ?error=<code>.
export const load: PageServerLoad = async (event) => {
	const { locals, url } = event;
	const query = url.searchParams;
	const next = safeRedirect(query.get('redirectTo'));
	const error = query.get('error');
	if (error || !locals.user) {
		// Refused at the provider or by the API: the sign-in page says why, in words.
		const back = new URLSearchParams({ redirectTo: next });
		if (error) back.set('error', error);
		redirect(303, `/signin?${back}`);
	}
	if (query.get('passkey_suggested') !== 'true') redirect(303, next);
	const provider = query.get('signed_in') ?? '';
	const { data } = await serverApi(event).GET('/v1/oauth/providers');
	const found = data?.providers.find((p) => p.name === provider);
	return { provider: found?.display_name ?? provider, next };
};
