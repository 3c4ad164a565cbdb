import { redirect } from '@sveltejs/kit';
import { safeRedirect } from '$lib/redirect';
import type { PageServerLoad } from './$types';

// Already signed in: no second session, straight on to where the visitor was headed.
export const load: PageServerLoad = ({ locals, url }) => {
	if (locals.user) redirect(303, safeRedirect(url.searchParams.get('redirectTo')));
};
