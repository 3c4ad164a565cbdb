// Dates are rendered on the server and again in the browser: one fixed locale and time
// zone keep the two renderings identical (no hydration mismatch).
const dateTime = new Intl.DateTimeFormat('en-GB', {
	dateStyle: 'medium',
	timeStyle: 'short',
	timeZone: 'UTC'
});

export function formatDate(iso: string | null | undefined, never = 'never'): string {
	return iso ? `${dateTime.format(new Date(iso))} UTC` : never;
}

// First match wins: Edge's and Chrome's User-Agents also say "Safari", Edge's says "Chrome".
const BROWSERS: [RegExp, string][] = [
	[/Edg\//, 'Edge'],
	[/Firefox\//, 'Firefox'],
	[/Chrome\//, 'Chrome'],
	[/Safari\//, 'Safari']
];
const SYSTEMS: [RegExp, string][] = [
	[/Android/, 'Android'],
	[/iPhone|iPad/, 'iOS'],
	[/Mac OS X/, 'macOS'],
	[/Windows/, 'Windows'],
	[/Linux|X11|CrOS/, 'Linux']
];

const first = (table: [RegExp, string][], text: string, otherwise: string) =>
	table.find(([pattern]) => pattern.test(text))?.[1] ?? otherwise;

/** "Chrome on Linux" from a User-Agent string, good enough for a session list. */
export function describeAgent(userAgent: string | null): string {
	if (!userAgent) return 'Unknown browser';
	const browser = first(BROWSERS, userAgent, 'A browser');
	return `${browser} on ${first(SYSTEMS, userAgent, 'another system')}`;
}

// How a passkey's authenticator is reached, in words rather than WebAuthn's tokens, as the
// service's built-in page says it. "internal" is "built into the device", never "this
// device": the list is read on every device of the account.
const TRANSPORTS: Record<string, string> = {
	hybrid: 'QR code',
	usb: 'USB',
	nfc: 'NFC',
	ble: 'Bluetooth',
	'smart-card': 'smart card'
};

/** "Connects by USB or NFC", "Built into the device"; transports this list does not
 * know are left out, and no known one gives "". */
export function describeTransports(transports: string[]): string {
	const words = transports.map((transport) => TRANSPORTS[transport]).filter(Boolean);
	const by = words.length
		? `connects by ${words.join(', ').replace(/, ([^,]*)$/, ' or $1')}`
		: '';
	if (transports.includes('internal')) {
		return by ? `Built into the device, or ${by}` : 'Built into the device';
	}
	return by.charAt(0).toUpperCase() + by.slice(1);
}

/** How a session began (its `method`), as the session list says it: "with a passkey". */
export function describeMethod(
	method: string,
	providerName: (provider: string) => string = (provider) => provider
): string {
	if (method === 'passkey') return 'with a passkey';
	if (method === 'recovery_code') return 'with a recovery code';
	if (method === 'recovery_email') return 'with an emailed link';
	if (method.startsWith('oauth:')) return `with ${providerName(method.slice('oauth:'.length))}`;
	return '';
}
