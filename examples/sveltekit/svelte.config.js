import adapter from '@sveltejs/adapter-node';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	compilerOptions: {
		// Svelte 5 runes everywhere: no legacy reactive statements sneak in.
		runes: true
	},
	kit: {
		// `node build` serves the app; PORT, HOST and ORIGIN come from the environment.
		adapter: adapter(),
		// A strict Content Security Policy (SvelteKit adds the nonce of its own inline script):
		// on pages that handle sign-in, injected script must have nowhere to run or send to.
		csp: {
			mode: 'auto',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				'style-src': ['self'],
				// Style attributes only: SvelteKit's route announcer (which tells screen readers
				// about client-side navigation) is positioned with one. <style> stays 'self'.
				'style-src-attr': ['unsafe-inline'],
				// Passkey provider icons arrive as data: URIs.
				'img-src': ['self', 'data:'],
				// The API is reached through this origin (/api), never directly.
				'connect-src': ['self'],
				'object-src': ['none'],
				'base-uri': ['none'],
				'form-action': ['self'],
				'frame-ancestors': ['none']
			}
		}
	}
};

export default config;
