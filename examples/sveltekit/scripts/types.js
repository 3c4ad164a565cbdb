// The TypeScript types of passkey-api, generated from the repository's committed
// openapi.json with openapi-typescript.
//
//   node scripts/types.js generate   writes src/lib/api/schema.d.ts
//   node scripts/types.js check      regenerates into a temporary file and fails when the
//                                    committed schema.d.ts differs (openapi.json moved on)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SPEC = '../../openapi.json';
const TYPES = 'src/lib/api/schema.d.ts';

function generate(output) {
	execFileSync(
		'npx',
		// Fields with a default are optional in requests (the API fills them in), so they
		// must not be typed as required.
		['--no-install', 'openapi-typescript', SPEC, '--default-non-nullable', 'false', '-o', output],
		{ stdio: ['ignore', 'ignore', 'inherit'] }
	);
}

const mode = process.argv[2];
if (mode === 'generate') {
	generate(TYPES);
	console.log(`${TYPES} generated from ${SPEC}`);
} else if (mode === 'check') {
	const dir = mkdtempSync(join(tmpdir(), 'passkey-api-types-'));
	try {
		const fresh = join(dir, 'schema.d.ts');
		generate(fresh);
		if (readFileSync(fresh, 'utf8') !== readFileSync(TYPES, 'utf8')) {
			console.error(`${TYPES} is stale: ${SPEC} changed. Run \`npm run generate:types\`.`);
			process.exitCode = 1;
		} else {
			console.log(`${TYPES} matches ${SPEC}`);
		}
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
} else {
	console.error('usage: node scripts/types.js generate|check');
	process.exitCode = 2;
}
