import { redirect } from '@sveltejs/kit';
import { safeRedirect } from '$lib/redirect';
import { serverApi } from '$lib/server/api';
import type { PageServerLoad } from './$types';

export const load: PageServerLoad = async (event) => {
	const { locals, url } = event;
	const redirectTo = safeRedirect(url.searchParams.get('redirectTo'));
	// Already signed in: no second session, straight on to where the visitor was headed.
	if (locals.session?.scope === 'full') redirect(303, redirectTo);
	// Half-way through "Lost your passkey?": its next step.
	if (locals.session?.scope === 'recovery') redirect(303, '/recover');
	const { data } = await serverApi(event).GET('/v1/oauth/providers');
	return {
		providers: data?.providers ?? [],
		// Where a social sign-in comes back to: an absolute URL on this app's origin, which
		// passkey-api accepts because the origin is one of its PASSKEY_ORIGINS.
		socialReturn: `${url.origin}/welcome?${new URLSearchParams({ redirectTo })}`,
		signedOutElsewhere: locals.sessionEnded,
		// A social sign-in the provider or the API refused (?error=<code>).
		error: url.searchParams.get('error')
	};
};
