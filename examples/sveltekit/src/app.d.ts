// See https://svelte.dev/docs/kit/types#app.d.ts
import type { Session, User } from '$lib/api/types';

declare global {
	namespace App {
		interface Error {
			message: string;
			/** The API's problem `code` when the error came from passkey-api. */
			code?: string;
		}
		interface Locals {
			/** The signed-in user, resolved by hooks.server.ts from GET /v1/session. */
			user: User | null;
			session: Session | null;
			/** The browser's session cookie was refused: it was signed out on another device. */
			sessionEnded: boolean;
			/**
			 * Set-Cookie headers passkey-api sent to server-side calls during this request
			 * (a sliding session renews its cookie); hooks.server.ts hands them to the browser.
			 */
			apiCookies: string[];
		}
		interface PageData {
			user: User | null;
			session: Session | null;
		}
	}
}

export {};
