import { error, redirect } from '@sveltejs/kit';
import { serverApi } from '$lib/server/api';
import type { PageServerLoad } from './$types';

const PAGE_SIZE = 50;

// hooks.server.ts has already sent signed-out visitors to /signin; here the role is
// checked, for a clear 403 page. The API checks it again on its side: this check is for
// the user's benefit, the API's is the one that protects the data.
export const load: PageServerLoad = async (event) => {
	const { locals, url } = event;
	if (!locals.user?.roles.includes('admin')) {
		error(403, { message: 'This page is for administrators.', code: 'forbidden' });
	}
	const q = url.searchParams.get('q')?.trim() || undefined;
	const offset = Math.max(0, Number(url.searchParams.get('offset')) || 0);
	const {
		data,
		error: problem,
		response
	} = await serverApi(event).GET('/v1/admin/users', {
		params: { query: { q, limit: PAGE_SIZE, offset } }
	});
	if (response.status === 401) redirect(303, `/signin?redirectTo=${encodeURIComponent('/admin')}`);
	if (!data) {
		error(response.status === 403 ? 403 : 502, {
			message: problem?.detail ?? 'The passkey service failed.',
			code: problem?.code
		});
	}
	return { page: data, q: q ?? '' };
};
