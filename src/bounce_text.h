/*
 * bounce_text: the plain-text side of bounce parsing. Finds addresses in free text,
 * and knows the notice texts of the common MTAs as a table of formats (Postfix,
 * Sendmail, qmail, Exim, Exchange/Outlook, Gmail, Yahoo, AOL, Courier, OpenSMTPD,
 * Domino, GroupWise, Amazon SES, "Intended recipient:" forms): how each is
 * recognised and where it lists its failed recipients. A new format is one row of that table. Pure: no I/O.
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

/*
 * bounce_text_find: where phrase is in s[0..len), in any case, a space of the phrase
 * matching any run of white space (a template's line may wrap), or NULL. *endp (if
 * not NULL) is set past the match.
 */
const char *bounce_text_find(const char *s, size_t len, const char *phrase,
	    const char **endp);

/* A line of a notice: points into its bounce_text_notice's textbuf, no line end. */
struct bounce_text_line {
	const char	*s;
	size_t		 len;
};

/* A notice's text in lines, and where the quoted original starts. */
struct bounce_text_notice {
	char		*textbuf;	/* the text, lines pointing into it */
	struct bounce_text_line *lines;
	size_t		 nlines;
	size_t		 cut;		/* first line past the notice (marker or original) */
	size_t		 orig;		/* first line of the quoted original */
};

/*
 * bounce_text_notice_split: initialise *n with text (copied) cut into lines (LF or
 * CRLF), and set n->cut at the first line past the human-readable notice: a marker
 * line ("copy of your message", "--- Original message ---"...) or a run of quoted
 * message headers (Received:, Message-ID:... with two more header lines). nlines
 * when there is none. Free with bounce_text_notice_free.
 */
void	bounce_text_notice_split(struct bounce_text_notice *n, const char *text);

/* bounce_text_notice_free: free what bounce_text_notice_split made; zero *n. */
void	bounce_text_notice_free(struct bounce_text_notice *n);

/*
 * bounce_text_notice_find: the first line in [from, cut) that names addr (any case),
 * or n->cut. Lines that only repeat the original's To:/Cc: (Exchange) are passed over.
 */
size_t	bounce_text_notice_find(const struct bounce_text_notice *n, const char *addr,
	    size_t from);

/* bounce_text_notice_has: does a line of [from, end) hold one of the n phrases? */
int	bounce_text_notice_has(const struct bounce_text_notice *notice, size_t from,
	    size_t end, const char *const *phrases, size_t n);

/* bounce_text_format_count, bounce_text_format_name: the rows, for tests and docs. */
size_t	bounce_text_format_count(void);
const char *bounce_text_format_name(size_t i);

#endif
