// The pending autofill (conditional mediation) sign-in of the sign-in page. A browser runs
// one WebAuthn request at a time, so it must be aborted, and its promise settled, before
// any modal ceremony starts.
import type { Outcome, SignedIn } from './api/types';
import { signIn } from './passkeys';

export class Autofill {
	/** Whether passkeys are being offered in the username field's suggestions right now. */
	pending = $state(false);
	#controller: AbortController | null = null;
	#done: Promise<void> = Promise.resolve();
	readonly #onResult: (outcome: Outcome<SignedIn>) => void;

	constructor(onResult: (outcome: Outcome<SignedIn>) => void) {
		this.#onResult = onResult;
	}

	/** Starts the conditional request; the caller checked isConditionalMediationAvailable(). */
	start(): void {
		if (this.#controller) return;
		const controller = new AbortController();
		this.#controller = controller;
		this.pending = true;
		this.#done = signIn({}, { mediation: 'conditional', signal: controller.signal }).then(
			(outcome) => {
				if (this.#controller === controller) {
					this.#controller = null;
					this.pending = false;
				}
				// Aborted on purpose (a modal ceremony, leaving the page): nothing to report.
				if (!controller.signal.aborted) this.#onResult(outcome);
			}
		);
	}

	async stop(): Promise<void> {
		const controller = this.#controller;
		this.#controller = null;
		this.pending = false;
		if (!controller) return;
		controller.abort();
		await this.#done;
	}
}
