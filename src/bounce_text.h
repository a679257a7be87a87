/*
 * bounce_text: the plain-text side of bounce parsing. Finds addresses in free text,
 * and knows the notice texts of the common MTAs as a table of formats (Postfix,
 * Sendmail, qmail, Exim, Exchange/Outlook, Gmail, Yahoo, AOL, Courier, OpenSMTPD,
 * Domino, "Intended recipient:" forms): how each is recognised and where it lists
 * its failed recipients. A new format is one row of that table. Pure: no I/O.
 */
#ifndef RELAYD_BOUNCE_TEXT_H
#define RELAYD_BOUNCE_TEXT_H

#include <stddef.h>

#define BOUNCE_TEXT_ADDR_MAX	320	/* longest address kept, with its NUL */
#define BOUNCE_TEXT_RCPT_MAX	128	/* recipients kept per notice */

/*
 * bounce_text_addr: find the next address at or after s in s[0..end); copy it into
 * out[BOUNCE_TEXT_ADDR_MAX] (domain lower-cased; a type glued on with '=', as
 * Exchange's "smtp=a@b", removed) and set *at, *after to its span in s. Returns 0,
 * or -1 when there is none. An address is a local part, '@' and a domain with a dot
 * (or a [literal]).
 */
int	bounce_text_addr(const char *s, const char *end, char *out, const char **at,
	    const char **after);

/*
 * bounce_text_rcpts: the failed recipients that a notice text s[0..len) in a known
 * format lists: the first row of the format table whose signature is in the text
 * and which finds at least one. Each address found (in order, each once, at most
 * BOUNCE_TEXT_RCPT_MAX) is a new string in the new array *addrs; *n is their count.
 * Returns the format's name ("postfix", "exim"...), or NULL when no row applies (*addrs
 * NULL, *n 0). The caller frees with bounce_text_rcpts_free. The caller still removes
 * addresses that are not recipients (the sender's own, postmaster).
 */
const char *bounce_text_rcpts(const char *s, size_t len, char ***addrs, size_t *n);

/* bounce_text_rcpts_free: free what bounce_text_rcpts returned; NULL is a no-op. */
void	bounce_text_rcpts_free(char **addrs, size_t n);

/* bounce_text_format_count, bounce_text_format_name: the rows, for tests and docs. */
size_t	bounce_text_format_count(void);
const char *bounce_text_format_name(size_t i);

#endif
