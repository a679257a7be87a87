/*
 * bounce_status: reply codes, enhanced status codes and what a bounce's words mean:
 * the reason taxonomy, permanent or temporary, hard or soft. Used by bounce_parse
 * (and for the reason names by bounce_store and relayctl); pure functions on buffers.
 */
#ifndef RELAYD_BOUNCE_STATUS_H
#define RELAYD_BOUNCE_STATUS_H

/* How bad a recipient's failure is, for suppression. */
enum bounce_kind {
	BOUNCE_KIND_NONE = 0,	/* not a failure (delivered) */
	BOUNCE_HARD,		/* the address is gone: unknown user/domain, moved */
	BOUNCE_SOFT,		/* mailbox full, temporary, policy, spam, throttling */
};

/*
 * Why a recipient failed: the taxonomy of this module (its reason table gives each
 * its name, its kind and its RFC 3463 subject.detail). The names follow sisimai's
 * reasons, merged where the difference does not change what relayd does.
 */
enum bounce_reason {
	BOUNCE_REASON_UNKNOWN = 0,	/* "unknown": the notice does not say */
	BOUNCE_REASON_USER_UNKNOWN,	/* "user_unknown": no such mailbox (X.1.1) */
	BOUNCE_REASON_MAILBOX_DISABLED,	/* "mailbox_disabled": closed, suspended (X.2.1) */
	BOUNCE_REASON_HAS_MOVED,	/* "has_moved": moved, no forwarding (X.1.6) */
	BOUNCE_REASON_HOST_UNKNOWN,	/* "host_unknown": no such domain, no MX (X.1.2) */
	BOUNCE_REASON_NOT_ACCEPT,	/* "not_accept": the host takes no mail (X.3.2) */
	BOUNCE_REASON_MAILBOX_FULL,	/* "mailbox_full": over quota (X.2.2) */
	BOUNCE_REASON_TOO_LARGE,	/* "too_large": message over a size limit (X.3.4) */
	BOUNCE_REASON_SPAM_OR_CONTENT,	/* "spam_or_content": spam, virus, filter (X.7.1) */
	BOUNCE_REASON_POLICY,		/* "policy": blocked IP, DMARC/SPF, PTR (X.7.1) */
	BOUNCE_REASON_RATE_LIMITED,	/* "rate_limited": too many, too fast (X.7.1) */
	BOUNCE_REASON_RELAY_DENIED,	/* "relay_denied": the host does not relay (X.7.1) */
	BOUNCE_REASON_SENDER_REJECTED,	/* "sender_rejected": our sender refused (X.1.8) */
	BOUNCE_REASON_EXPIRED,		/* "expired": retried until it gave up (X.4.7) */
	BOUNCE_REASON_NETWORK_ERROR,	/* "network_error": connection, DNS trouble (X.4.1) */
	BOUNCE_REASON_SYSTEM_ERROR,	/* "system_error": the remote's fault (X.3.0) */
	BOUNCE_REASON_NREASONS
};

#define BOUNCE_STATUS_MAX	16	/* "5.1.10" and room to spare */

/*
 * bounce_status_code: the first RFC 3463 code "C.S.D" (C 4 or 5, or 2 if class2) in
 * s[0..end) that is not part of a longer dotted number. Copies it into
 * out[BOUNCE_STATUS_MAX]; returns where it starts in s, or NULL (out untouched).
 */
const char	*bounce_status_code(const char *s, const char *end, int class2, char *out);

/*
 * bounce_status_reply: the first plausible SMTP reply code (4xx/5xx, standing alone)
 * in s[0..end), or 0; *where (if not NULL) is set to where it starts.
 */
int		 bounce_status_reply(const char *s, const char *end, const char **where);

/*
 * bounce_status_best: the most telling status code in s[0..end) into
 * out[BOUNCE_STATUS_MAX] ("" if none), *reply the reply code seen (0 if none).
 * Returns 3 (a status code after its reply code), 2 (a status code alone), 1 (only a
 * reply code) or 0.
 */
int		 bounce_status_best(const char *s, const char *end, char *out, int *reply);

/*
 * bounce_status_reason: why one recipient failed, from its status (may be NULL or "")
 * and diagnostic text (may be NULL). A X.1.7/X.1.8 status says sender_rejected
 * whatever the words; else the first phrase of the rule table found in the text; else
 * what the status's subject.detail says (5.1.1 user_unknown, 5.2.2 mailbox_full, X.7.x
 * policy...); else the weak phrases ("timed out": expired); else unknown.
 */
enum bounce_reason bounce_status_reason(const char *status, const char *diagnostic);

/* bounce_status_reason_name: "user_unknown", "mailbox_full"...; "unknown" if out of range. */
const char	*bounce_status_reason_name(enum bounce_reason);

/* bounce_status_reason_by_name: the reason named name (NULL: none), or UNKNOWN. */
enum bounce_reason bounce_status_reason_by_name(const char *name);

/*
 * bounce_status_reason_kind: should a failure for reason r suppress the address?
 * BOUNCE_HARD for a permanent failure whose reason says the address is gone
 * (user_unknown, mailbox_disabled, has_moved, host_unknown, not_accept), else
 * BOUNCE_SOFT: a temporary failure never suppresses.
 */
enum bounce_kind bounce_status_reason_kind(enum bounce_reason r, int permanent);

/*
 * bounce_status_kind: hard or soft for one failed recipient, from its status (may be
 * NULL) and diagnostic text (may be NULL): bounce_status_reason_kind of its reason,
 * permanent unless the status is 4.x.x; BOUNCE_KIND_NONE for a 2.x.x status.
 */
enum bounce_kind bounce_status_kind(const char *status, const char *diagnostic);

/*
 * bounce_status_permanent: 1 when a recipient failed for good: not "delayed", and a
 * 5.x.x status, or no status and Action failed; 0 for 4.x.x, 2.x.x and delays.
 */
int		 bounce_status_permanent(const char *action, const char *status);

/*
 * bounce_status_guess: an enhanced status for a failure that gave none, from the
 * words of diag (the reason's subject.detail, "0.0" when none is found); its class is
 * the reply code's if any, else 4 if temporary. Writes out[BOUNCE_STATUS_MAX].
 */
void		 bounce_status_guess(const char *diag, int reply, int temporary, char *out);

#endif
