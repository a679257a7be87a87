/*
 * sendmail: the pure parts of relay-sendmail, the sendmail-compatible command that
 * cron, PHP's mail() and other programs run to hand a message to relayd. Here: the
 * command line, the conversion of what arrives on stdin into CRLF lines, the header
 * work (recipients from To:/Cc:/Bcc: for -t, Bcc: removal, From: and Date: when
 * missing) and dot-stuffing. No I/O: each function works on buffers, so all of it is
 * unit-tested as tables (tests/unit/test_sendmail.c) and fuzzed
 * (tests/fuzz/fuzz_sendmail.c). The SMTP dialogue with relayd is sendmail_smtp.c.
 */
#ifndef RELAYD_SENDMAIL_H
#define RELAYD_SENDMAIL_H

#include <stddef.h>
#include <time.h>

/* What the command line asks for. */
struct sendmail_opts {
	const char	*config;	/* -C FILE, or NULL for the default */
	const char	*sender;	/* -f / -r SENDER, or NULL: the invoking user@host */
	const char	*fullname;	/* -F NAME, or NULL */
	int		 extract;	/* -t: recipients from To:, Cc:, Bcc: as well */
	int		 ignore_dots;	/* -i / -oi: a lone "." line does not end the input */
	int		 verbose;	/* -v: show the SMTP dialogue on stderr */
	char		 mode;		/* 'm' deliver (-bm, the default), 'i' -bi (no-op), */
					/* 's' -bs (SMTP on standard input and output) */
	char		**rcpts;	/* recipient arguments (pointers into argv) */
	size_t		 nrcpts;
};

/*
 * sendmail_parse_args: parse argv like sendmail(8) does (getopt style: "-ti", "-fx"
 * or "-f x", options and recipients in any order, "--" ends the options).
 * Understood: -C -f -r -F -t -i -v, -o with any letter (-oi sets ignore_dots, the
 * others are ignored), -bm, -bi (newaliases: there are no aliases, nothing to do),
 * -bs (the caller speaks SMTP on standard input and output),
 * and, ignored: -B TYPE, -N DSN, -R RET, -V ENVID, -U, -m, -n, -G. -bp and other
 * modes are refused with a reason.
 * Returns 0, or -1 with err holding "unknown option -x" style text (the caller prints
 * usage and exits EX_USAGE). o->rcpts is allocated (xmalloc); free it with
 * sendmail_opts_free, also after -1.
 */
int	sendmail_parse_args(int argc, char **argv, struct sendmail_opts *o, char *err,
	    size_t errlen);
void	sendmail_opts_free(struct sendmail_opts *o);

/* A list of envelope recipients: addr-specs without <>, no duplicates. */
struct sendmail_rcpts {
	char		**addr;
	size_t		 n, cap;
};

/*
 * sendmail_addrlist: parse an RFC 5322 address-list (s[0..len), folding allowed:
 * "A <a@x>, b@y (c), Team: c@z, \"d e\"@w;") and add each mailbox's addr-spec to r,
 * skipping ones already there (compared case-insensitively). Display names, comments,
 * groups and obsolete routes (<@r:a@x>) are understood and dropped; empty members
 * and empty groups ("undisclosed-recipients:;") give nothing. Each address must be a
 * valid RFC 5321 mailbox with a domain (smtp_parse_mailbox).
 * Returns 0, or -1 with err naming the first bad address and why; addresses before it
 * may already be in r.
 */
int	sendmail_addrlist(const char *s, size_t len, struct sendmail_rcpts *r, char *err,
	    size_t errlen);
/* sendmail_rcpts_add: add one address (copied) unless already present. */
void	sendmail_rcpts_add(struct sendmail_rcpts *r, const char *addr, size_t len);
void	sendmail_rcpts_free(struct sendmail_rcpts *r);

/*
 * sendmail_canon: turn the input as read from stdin into CRLF lines. LF and CRLF end
 * a line; a CR that is not followed by LF is dropped (SMTP allows no bare CR); a last
 * line without an end gets CRLF; a leading mbox "From " line is dropped. Unless
 * ignore_dots, a line holding only "." ends the message there, as in sendmail.
 * Returns a new buffer (xmalloc, the caller frees it) of *outlen octets.
 */
char	*sendmail_canon(const char *in, size_t len, int ignore_dots, size_t *outlen);

/* How sendmail_prepare completes a message. */
struct sendmail_prep {
	int		 extract;	/* collect To:, Cc:, Bcc: recipients into the list */
	const char	*from_addr;	/* for an added From: (the sender, or user@host) */
	const char	*fullname;	/* its display name, or NULL */
	time_t		 now;		/* for an added Date:, in local time */
};

/*
 * sendmail_prepare: from a canonical message (sendmail_canon), build the message that
 * is submitted: every Bcc: field removed (with its continuation lines); From: added
 * when there is none ("From: NAME <from_addr>", the name quoted or RFC 2047 encoded
 * as needed); Date: added when there is none (RFC 5322 3.3, numeric zone). Added
 * fields go at the end of the header block. The header block is the run of fields at
 * the start; it ends at an empty line, or at the first line that is not a field, in
 * which case an empty line is inserted there so that line stays body.
 * With p->extract, the addresses of every To:, Cc: and Bcc: are added to r.
 * Returns 0 with *out (xmalloc, the caller frees it) and *outlen, or -1 with err
 * naming the field and the bad address ("Cc: \"root\" has no @domain").
 */
int	sendmail_prepare(const char *msg, size_t len, const struct sendmail_prep *p,
	    struct sendmail_rcpts *r, char **out, size_t *outlen, char *err, size_t errlen);

/*
 * sendmail_dotstuff: the DATA payload for a canonical message: a "." doubled at the
 * start of every line that begins with one (RFC 5321 4.5.2), then the ending
 * ".\r\n". Returns a new buffer (xmalloc, the caller frees it) of *outlen octets.
 */
char	*sendmail_dotstuff(const char *msg, size_t len, size_t *outlen);

/* sendmail_has_8bit: does the message hold octets >= 0x80 (BODY=8BITMIME)? */
int	sendmail_has_8bit(const char *msg, size_t len);

#endif
