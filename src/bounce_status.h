/*
 * bounce_status: reply codes, enhanced status codes and what a bounce's words mean:
 * the reason taxonomy, permanent or temporary, hard or soft. Used by bounce_parse
 * (and for the reason names by bounce_store and relayctl); pure functions on buffers.
 */
#ifndef RELAYD_BOUNCE_STATUS_H
#define RELAYD_BOUNCE_STATUS_H

#include "bounce_parse.h"

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
