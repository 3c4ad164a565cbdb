import type { LayoutServerLoad } from './$types';

// The user hooks.server.ts resolved, for every page. Pages refresh it with
// invalidateAll() after signing in or out.
export const load: LayoutServerLoad = ({ locals }) => ({ user: locals.user, session: locals.session });
