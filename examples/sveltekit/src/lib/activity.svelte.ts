// What the account page is doing right now: one change at a time, with the notice shown
// under the part of the page it concerns. While the API asks for a step-up the notice says
// so, and once it is done it goes back to the action's own words, so that what the page
// says follows what the browser is asking for.
import type { Outcome, Problem } from './api/types';
import { STEP_UP_PROMPT, type StepUpNotices } from './passkeys';

export class Activity {
	busy = $state(false);
	problem = $state<Problem | null>(null);
	message = $state('');
	/** The part of the page the notice belongs to ("passkeys", "sessions", ...). */
	place = $state('');
	readonly #after: () => Promise<unknown>;

	/** `after` runs after every change (the account page reloads its lists). */
	constructor(after: () => Promise<unknown>) {
		this.#after = after;
	}

	/** Shows a notice without running anything (a result that arrived with the URL). */
	say(place: string, message: string, problem: Problem | null = null): void {
		this.place = place;
		this.message = message;
		this.problem = problem;
	}

	async run<T>(
		place: string,
		pending: string,
		action: (notices: StepUpNotices) => Promise<Outcome<T>>,
		done: (data: T) => string
	): Promise<Outcome<T>> {
		this.busy = true;
		this.say(place, pending);
		const outcome = await action({
			onStepUp: () => (this.message = STEP_UP_PROMPT),
			onRetry: () => (this.message = pending)
		});
		if (outcome.ok) this.say(place, done(outcome.data));
		else this.say(place, '', outcome.problem);
		await this.#after();
		this.busy = false;
		return outcome;
	}
}
