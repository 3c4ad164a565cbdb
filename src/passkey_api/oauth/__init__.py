"""Social sign-in and linking (OAuth 2.0 authorization code + PKCE; OpenID Connect).

/authorize remembers a flow (flows.py) and sends the browser to the provider;
/callback takes the flow back (single use), checks that it is the same browser, exchanges
the code, and then:

- sign-in: the provider account's linked user signs in; an unknown provider account
  becomes a new account, unless its verified email is already known for an account (no
  takeover by email: that user signs in with a passkey and links); a disabled user is
  refused. Browsers get the session cookie; native apps a one-time code for /exchange.
- link: the provider account is linked to the user who started the flow.

Every outcome goes back to the app's `redirect_to`: `?error=<code>` when refused.
Refusals are audited; the unit of work of a refused callback is rolled back.
"""
