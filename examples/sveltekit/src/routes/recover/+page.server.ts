import { redirect } from '@sveltejs/kit';
import type { PageServerLoad } from './$types';

// "Lost your passkey?": signed out, the ways back in (a recovery code, an emailed link);
// in a recovery session, its one permitted step: a new passkey. Fully signed in, there is
// nothing to recover.
export const load: PageServerLoad = ({ locals }) => {
	if (locals.session?.scope === 'full') redirect(303, '/account');
	return { recovering: locals.session?.scope === 'recovery' };
};
