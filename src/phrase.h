/*
 * phrase: the one vocabulary of what a remote's words mean, shared by outcome.c (a
 * provider's reply to relayd: retry, throttle, fail, disable) and bounce_status.c (a
 * bounce notice: why a recipient failed). A provider phrase is added here, once, as a
 * row: its text, its meaning, and where it is read (replies, notices or both). Pure.
 */
#ifndef RELAYD_PHRASE_H
#define RELAYD_PHRASE_H

#include <stddef.h>

/* What a phrase says; bounce_status.c maps each to the bounce reason of that name. */
enum phrase_meaning {
	PHRASE_USER_UNKNOWN,		/* no such mailbox */
	PHRASE_MAILBOX_DISABLED,	/* the mailbox or account is closed, suspended */
	PHRASE_HAS_MOVED,		/* moved, no forwarding */
	PHRASE_HOST_UNKNOWN,		/* no such domain, no MX */
	PHRASE_NOT_ACCEPT,		/* the host takes no mail */
	PHRASE_MAILBOX_FULL,		/* over quota */
	PHRASE_TOO_LARGE,		/* over a size limit */
	PHRASE_SPAM_OR_CONTENT,		/* spam, virus, filter */
	PHRASE_POLICY,			/* blocked IP, DMARC/SPF, PTR */
	PHRASE_RATE_LIMITED,		/* too many, too fast, a limit */
	PHRASE_RELAY_DENIED,		/* the host does not relay */
	PHRASE_SENDER_REJECTED,		/* the sender is refused */
	PHRASE_EXPIRED,			/* retried until it gave up */
	PHRASE_NETWORK_ERROR,		/* connection, DNS trouble */
	PHRASE_NMEANINGS
};

/* Where a phrase is read. */
#define PHRASE_BOUNCE	0x01	/* in bounce notices (bounce_status_reason) */
#define PHRASE_REPLY	0x02	/* in provider replies (outcome's rules) */
#define PHRASE_WEAK	0x04	/* (notices) says less than a status code does */

struct phrase {
	const char		*text;		/* lower case; found as a substring, any case */
	enum phrase_meaning	 meaning;
	unsigned		 flags;		/* PHRASE_* */
	const char		*status;	/* the status a notice without one gets, or NULL */
};

/*
 * phrase_find: the first row, in the table's order (most specific first), that has
 * every flag of want and none of avoid, and whose text is in s (any case). NULL if
 * there is none or s is NULL.
 */
const struct phrase *phrase_find(const char *s, unsigned want, unsigned avoid);

/*
 * phrase_alternation: the texts of the rows of meaning m that have flag, as a POSIX
 * extended regular expression "a|b|c" (special characters escaped), in a new string
 * the caller frees; "" when there is none.
 */
char		*phrase_alternation(enum phrase_meaning m, unsigned flag);

#endif
