/*
 * bounce_mime: what a notification's MIME tree holds, gathered in one walk with GMime:
 * the human-readable text (plain parts; HTML parts with their tags removed), the
 * contents of message/delivery-status parts for bounce_dsn, the quoted headers of the
 * original, and from an attached original its Message-ID, its senders and its To.
 * bounce_parse reads the notice from what it gathers. No I/O beyond GMime's memory.
 */
#ifndef RELAYD_BOUNCE_MIME_H
#define RELAYD_BOUNCE_MIME_H

#include <stddef.h>

#include <gmime/gmime.h>

/* What bounce_mime_collect gathers. Empty it with bounce_mime_clear. */
struct bounce_mime {
	GString		*text;		/* text/plain parts, UTF-8, each ending in '\n' */
	GString		*html;		/* text/html parts, tags removed */
	GString		*dsn;		/* message/delivery-status contents */
	GString		*headers;	/* text/rfc822-headers (and message/rfc822) contents */
	char		*orig_msgid;	/* an attached original's Message-ID, no <>; or NULL */
	char		**senders;	/* its From, Sender, Return-Path (addresses or values) */
	size_t		 nsenders;
	char		**tos;		/* its To: header values */
	size_t		 ntos;
	int		 feedback;	/* a message/feedback-report part was seen */
	int		 original;	/* an attached original (or its headers) was seen */
};

/*
 * bounce_mime_collect: initialise *bm and walk o (the message's top part; NULL gives
 * nothing) depth first, at most 32 levels deep. Never fails; always
 * bounce_mime_clear afterwards.
 */
void	bounce_mime_collect(struct bounce_mime *bm, GMimeObject *o);

/* bounce_mime_clear: free what bounce_mime_collect gathered; zero *bm. */
void	bounce_mime_clear(struct bounce_mime *bm);

/*
 * bounce_mime_msgid: a new copy of a Message-ID value v[0..len) without <> and white
 * space ("<a@b>", or a bare "a@b"), or NULL when it holds none.
 */
char	*bounce_mime_msgid(const char *v, size_t len);

#endif
