"""Account recovery: recovery codes and emailed links, each leading to a restricted
session that can only add a passkey (sessions.service.RECOVERY_ALLOWED); adding one turns it
into a full session (ceremonies/add_passkey.py).

Whoever asks, the answers do not tell whether an account or an address exists, nor (for
codes) whether a code was wrong or already used: the same problem code, after the same
queries.

The owner hears of every use or change of a way in (a code or a link used, the recovery
address changed or removed, new codes made) at their verified recovery address, when
there is one and mail is configured: a notice without codes or links, posted after the
commit like every message here, so it changes neither the answer nor its timing and a
mail failure fails nothing.

Every unit of work that may send a message takes its place in the outbox first (mailing.place,
storage/mail.py), before it changes anything: a full outbox refuses the request whole, and a
message, notice or link, is never dropped for want of room. A code attempt takes one only
once a notice is due (redeem_code says when), so that attempts waiting for their slow hash
hold none.
"""
