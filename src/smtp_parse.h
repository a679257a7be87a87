/*
 * smtp_parse: pure parsers for the inbound SMTP dialogue (RFC 5321). No I/O, no
 * allocation: each function reads a buffer and fills caller storage, so they are
 * unit-tested as tables of cases and fuzzed alone (tests/fuzz/fuzz_smtp_parse.c).
 */
#ifndef RELAYD_SMTP_PARSE_H
#define RELAYD_SMTP_PARSE_H

#include <stddef.h>

#define SMTP_LINE_MAX	512	/* command line incl. CRLF, RFC 5321 4.5.3.1.4 */
#define SMTP_PATH_MAX	256	/* path incl. "<" ">", RFC 5321 4.5.3.1.3 */
#define SMTP_LOCAL_MAX	64	/* local part, 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX	255	/* domain, 4.5.3.1.2 */
#define SMTP_VERB_MAX	16

/*
 * smtp_parse_command: split one command line (CRLF already removed) into its verb,
 * upper-cased into verb[SMTP_VERB_MAX], and its argument: *args points into line,
 * past the single space after the verb, at "" when there is none.
 * Returns 0, or -1 when the line is empty, the verb is not 1..15 letters, or the line
 * holds a NUL, CR or LF (callers reply 500 5.5.2).
 * *args is a C string only if line[len] is NUL (it runs to line + len); with no
 * argument it is a static "". Extra spaces are left in *args ("RCPT  TO:" gives
 * " TO:", which smtp_parse_rcpt refuses).
 */
int	smtp_parse_command(const char *line, size_t len, char verb[SMTP_VERB_MAX],
	    const char **args);

/* The result of parsing MAIL FROM:<...> [params]. */
struct smtp_mail_args {
	char		addr[SMTP_PATH_MAX];	/* without <>; "" for the null path <> */
	unsigned long long size;		/* SIZE=n, 0 when absent */
	int		body_8bitmime;		/* BODY=8BITMIME given */
	int		smtputf8;		/* SMTPUTF8 given */
};

/*
 * smtp_parse_mail: parse the argument of MAIL ("FROM:<a@b> SIZE=123 BODY=8BITMIME").
 * "FROM:" is case-insensitive; one optional space after the colon is tolerated.
 * Returns 0, or -1 with *err set to a complete static reply line without CRLF, e.g.
 * "501 5.5.4 Syntax: MAIL FROM:<address>", "501 5.1.7 Bad sender address syntax",
 * "555 5.5.4 Unsupported parameter ...". Source routes (<@a,@b:x@y>) are accepted and
 * dropped (RFC 5321 4.1.2). BODY=7BIT is accepted; other BODY values and unknown
 * parameters give 555. Also: AUTH=<xtext> (RFC 4954 5) is accepted and ignored;
 * SIZE past ULLONG_MAX is clamped to it (so the caller's 552 check refuses it); an
 * address with octets >= 0x80 needs SMTPUTF8 ("553 5.6.7 ..."); a path over
 * SMTP_PATH_MAX gives "501 5.1.7 Sender address too long"; trailing spaces are ok.
 */
int	smtp_parse_mail(const char *args, struct smtp_mail_args *out, const char **err);

/*
 * smtp_parse_rcpt: parse the argument of RCPT ("TO:<a@b>"); the address without <>
 * goes into addr[SMTP_PATH_MAX]. The null path and "<postmaster>" without a domain
 * are refused here (relayd forwards, it has no local postmaster).
 * Returns 0, or -1 with *err as for smtp_parse_mail ("501 5.1.3 Bad recipient address
 * syntax", "555 5.5.4 ..."). No RCPT parameter is supported (no DSN): any gives 555.
 * A UTF-8 address is not checked against MAIL's SMTPUTF8 here: the caller does that.
 */
int	smtp_parse_rcpt(const char *args, char addr[SMTP_PATH_MAX], const char **err);

/*
 * smtp_parse_mailbox: is s[0..len) a valid RFC 5321 Mailbox (Local-part "@" Domain,
 * dot-string or quoted-string local part <= 64 octets, domain name or address literal
 * <= 255 octets)? UTF-8 octets >= 0x80 are allowed (SMTPUTF8) but must be well-formed
 * UTF-8. Address literals are [IPv4] and [IPv6:...]; general literals are refused.
 * Returns 1 or 0.
 */
int	smtp_parse_mailbox(const char *s, size_t len);

#endif
