import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vite';

export default defineConfig({
	plugins: [sveltekit()],
	// `vite dev` / `vite preview` on the origin the passkey-api example settings allow.
	server: { port: 5173, strictPort: true },
	preview: { port: 4173, strictPort: true }
});
