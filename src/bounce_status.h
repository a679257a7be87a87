/*
 * bounce_status: reply codes, enhanced status codes and what a bounce's words mean.
 * Used by bounce_parse; pure functions on buffers.
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
 * bounce_status_kind: hard or soft for one failed recipient, from its status (may be
 * NULL) and diagnostic text (may be NULL); BOUNCE_KIND_NONE for a 2.x.x status.
 */
enum bounce_kind bounce_status_kind(const char *status, const char *diagnostic);

/*
 * bounce_status_guess: an enhanced status for a failure that gave none, from the
 * words of diag; its class is the reply code's if any, else 4 if temporary. Writes
 * out[BOUNCE_STATUS_MAX].
 */
void		 bounce_status_guess(const char *diag, int reply, int temporary, char *out);

#endif
