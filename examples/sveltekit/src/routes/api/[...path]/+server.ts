import { proxy } from '$lib/server/proxy';
import type { RequestHandler } from './$types';

// Every method, forwarded as it is to passkey-api (see $lib/server/proxy.ts).
export const fallback: RequestHandler = (event) => proxy(event);
