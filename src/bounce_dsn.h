/*
 * bounce_dsn: a pure parser for the fields of an RFC 3464 message/delivery-status
 * body: its per-recipient blocks (Final-Recipient, Original-Recipient, Action,
 * Status, Diagnostic-Code) and the address inside a "type; address" value. Text in,
 * strings out; no MIME (bounce_parse finds the part), no judgement of what a status
 * means (bounce_status does).
 */
#ifndef RELAYD_BOUNCE_DSN_H
#define RELAYD_BOUNCE_DSN_H

#include <stddef.h>

#define BOUNCE_DSN_MAX	128	/* recipient blocks kept per report */

/* One per-recipient block. Each field is its unfolded value, or NULL if absent. */
struct bounce_dsn_rcpt {
	char	*final;		/* Final-Recipient: "rfc822; a@example.org" */
	char	*original;	/* Original-Recipient */
	char	*action;	/* Action: "failed" */
	char	*status;	/* Status: "5.1.1" */
	char	*diag;		/* Diagnostic-Code: "smtp; 550 ..." */
};

/*
 * bounce_dsn_parse: read the fields of s (NUL-terminated; LF or CRLF; continuation
 * lines unfolded, names in any case) into a new array *out of its recipient blocks,
 * in order, and return how many (at most BOUNCE_DSN_MAX). A block ends at a blank
 * line or where a second Final-Recipient (or an Original-Recipient after a complete
 * block) starts one; blocks naming no recipient are dropped; the first value of a
 * repeated field wins. The caller frees *out with bounce_dsn_free, even when 0 is
 * returned (*out is then NULL).
 */
size_t	bounce_dsn_parse(const char *s, struct bounce_dsn_rcpt **out);

/* bounce_dsn_free: free n blocks returned by bounce_dsn_parse; NULL is a no-op. */
void	bounce_dsn_free(struct bounce_dsn_rcpt *r, size_t n);

/*
 * bounce_dsn_addr: the bare address of a recipient field value "rfc822; <a@b> (c)",
 * in a new string (domain lower-cased), or NULL when there is none. The address type,
 * angle brackets, quotes around the whole, (comments) and a type glued on with '='
 * or ':' ("smtp=a@b", "SMTP:a@b") go; an address is a non-empty local part, '@' and
 * a domain with a dot (or a [literal]), with no white space.
 */
char	*bounce_dsn_addr(const char *v);

/* bounce_dsn_value: v past its "type;" prefix ("smtp; 550 ..." -> " 550 ..."). */
const char *bounce_dsn_value(const char *v);

#endif
