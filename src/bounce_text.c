/*
 * bounce_text: addresses in free text, and the table of MTA notice formats.
 *
 * A delivery failure notice without an RFC 3464 part is still written by a program,
 * and each program lists its failed recipients its own way. The table below has one
 * row per format: the phrases that mark it (taken from the MTAs' own templates:
 * Postfix bounce_template, Sendmail savemail.c, qmail-send.c, Exim's
 * bounce_message_text, Exchange/Office 365 NDRs, Amazon SES's documented JSON...), the phrase after which it lists
 * recipients, and how: each on a line of its own, led by the address ("<a@b>: ...",
 * "  a@b", "550 5.1.1 <a@b>... User unknown"), or inline after the phrase ("Your
 * message to a@b couldn't be delivered", "Intended recipient: a@b"). bounce_parse
 * asks it first and falls back on its own reading of the notice's addresses when no
 * row applies. Pure: no I/O.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_text.h"
#include "xmalloc.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define BT_LINE_MAX	1024	/* bytes of a line looked at */

/* How a format lists its recipients. */
#define BT_LEAD		0x1	/* lines after the start, each led by an address */
#define BT_INLINE	0x2	/* on the start line itself, after the start phrase */

/*
 * The formats, most specific first. signs: any one (lower case, a substring of the
 * notice) marks the format; starts: the recipients come on (BT_INLINE) or after
 * (BT_LEAD) each line holding one of these; none: from the top of the notice.
 */
static const struct bounce_text_format {
	const char	*name;
	const char	*signs[6];
	const char	*starts[5];
	int		 how;
} bounce_text_formats[] = {
	{ "postfix", { "this is the mail system at host", "the postfix program",
	    "postfix program at host" }, { NULL }, BT_LEAD },
	{ "qmail", { "this is the qmail-send program", "qmail-send program" }, { NULL },
	    BT_LEAD },
	{ "sendmail", { "had permanent fatal errors", "transcript of session follows",
	    "the original message was received at" }, { "had permanent fatal errors",
	    "had transient non-fatal errors", "transcript of session follows" }, BT_LEAD },
	{ "exim", { "mail delivery software", "following address(es) failed",
	    "could not be delivered to one or more of its recipients",
	    "not yet been delivered" }, { "address(es) failed",
	    "could not be delivered to one or more of its recipients",
	    "not yet been delivered", "following address" }, BT_LEAD },
	{ "courier", { "courier mail server at",
	    "following recipients cannot be delivered" },
	    { "recipients cannot be delivered" }, BT_LEAD },
	{ "opensmtpd", { "following list of recipients",
	    "this is the mailer-daemon, please do not reply" },
	    { "following list of recipients" }, BT_LEAD },
	{ "exchange", { "delivery has failed to these recipients",
	    "did not reach some or all of the intended recipients",
	    "recipient(s) cannot be reached", "recipient(s) could not be reached",
	    "did not reach the following recipient" },
	    { "delivery has failed to these recipients", "cannot be reached",
	    "could not be reached", "did not reach the following recipient" }, BT_LEAD },
	{ "office365", { "couldn't be delivered", "could not be delivered" },
	    { "your message to", "message couldn't be delivered to" }, BT_INLINE },
	{ "gmail", { "delivery to the following recipient", "wasn't delivered to",
	    "problem delivering your message to" }, { "delivery to the following recipient",
	    "wasn't delivered to", "problem delivering your message to" },
	    BT_LEAD | BT_INLINE },
	{ "yahoo", { "unable to deliver your message to the following address" },
	    { "unable to deliver your message to the following address" }, BT_LEAD },
	{ "aol", { "the following addresses had delivery problems" },
	    { "the following addresses had delivery problems" }, BT_LEAD },
	{ "domino", { "was not delivered to:" }, { "was not delivered to:" }, BT_LEAD },
	{ "groupwise", { "was undeliverable to the following" },
	    { "was undeliverable to the following" }, BT_LEAD },
	/* Kerio, Mercury, MDaemon and others: a list after a plain sentence. */
	{ "recipient-list", { "could not be delivered to the following recipient",
	    "could not be delivered to the following address",
	    "undeliverable to the following recipient" },
	    { "could not be delivered to the following recipient",
	    "could not be delivered to the following address",
	    "undeliverable to the following recipient" }, BT_LEAD },
	/* Amazon SES's JSON notification (direct or through SNS, quotes escaped). */
	{ "amazonses", { "\"bouncedrecipients\"", "\\\"bouncedrecipients\\\"" },
	    { "bouncedrecipients" }, BT_INLINE },
	{ "intended-recipient", { "intended recipient", "original recipient:",
	    "failed recipient:", "recipient address:", "unable to deliver to:",
	    "could not be delivered to:" }, { "intended recipient",
	    "original recipient:", "failed recipient:", "recipient address:",
	    "unable to deliver to:" }, BT_INLINE | BT_LEAD },
};

/* Markers (lower case) of the line after which a text bounce quotes the original. */
static const char *const bounce_text_cut_markers[] = {
	"copy of the message", "copy of your message", "original message follows",
	"message headers follow", "original message headers",
	"header of the original message", "headers of the original message",
	"unsent message below", "returned mail follows", "original message is attached",
	"content-type: message/rfc822", "content-type: text/rfc822-headers",
	"the first part of the original message", "original message header",
	"headers of your message", "message header follows",
};

/* Header names that start a quoted original in a text bounce. */
static const char *const bounce_text_orig_headers[] = {
	"received:", "return-path:", "dkim-signature:", "message-id:", "from:",
	"date:", "subject:", "to:", "x-mailer:",
};

/*
 * Of those, the ones a notice's own summary ("To:, Subject:, Sent:") lacks. MIME part
 * headers (Content-Type...) start no original: a notice read raw has them too.
 */
static const char *const bounce_text_orig_strong[] = {
	"received:", "return-path:", "dkim-signature:", "message-id:", "x-mailer:",
	"from:",
};

/* Address types glued to an address with '=' (lower case). */
static const char *const bounce_text_types[] = { "smtp=", "rfc822=", "x400=" };

/* bounce_text_addrchar: may c appear in the local part of an address we extract? */
static int
bounce_text_addrchar(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || strchr(".!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

int
bounce_text_addr(const char *s, const char *end, char *out, const char **at,
    const char **after)
{
	for (const char *p = s; p < end; p++) {
		if (*p != '@')
			continue;
		const char *l = p;
		while (l > s && bounce_text_addrchar(l[-1]))
			l--;
		while (l < p && (*l == '.' || *l == '/' || *l == '=' || *l == '\''))
			l++;
		/* An address type glued to the address (Exchange "smtp=a@b", "rfc822=")
		 * is not part of it. */
		for (size_t k = 0; k < nitems(bounce_text_types); k++) {
			size_t n = strlen(bounce_text_types[k]);
			if ((size_t)(p - l) > n && strncasecmp(l, bounce_text_types[k], n) == 0)
				l += n;
		}
		const char *r = p + 1;
		int dots = 0;
		if (r < end && *r == '[') {
			while (r < end && *r != ']' && r - p < 64)
				r++;
			if (r < end && *r == ']')
				r++, dots = 1;
		} else {
			while (r < end && (isalnum((unsigned char)*r) || *r == '-' ||
			    *r == '.' || *r == '_')) {
				if (*r == '.')
					dots++;
				r++;
			}
			while (r > p + 1 && (r[-1] == '.' || r[-1] == '-'))
				r--, dots -= r[0] == '.';
		}
		if (l == p || r == p + 1 || dots == 0 || l[0] == '.' ||
		    (size_t)(r - l) >= BOUNCE_TEXT_ADDR_MAX || p[1] == '.')
			continue;
		memcpy(out, l, r - l);
		out[r - l] = '\0';
		for (char *d = out + (p - l); *d; d++)
			*d = tolower((unsigned char)*d);
		*at = l;
		*after = r;
		return 0;
	}
	return -1;
}

const char *
bounce_text_find(const char *s, size_t len, const char *phrase, const char **endp)
{
	for (size_t i = 0; i < len; i++) {
		const char *p = s + i, *end = s + len, *f = phrase;
		while (*f != '\0' && p < end) {
			if (*f == ' ') {
				if (!isspace((unsigned char)*p))
					break;
				while (p < end && isspace((unsigned char)*p))
					p++;
				f++;
			} else if (tolower((unsigned char)*p) == tolower((unsigned char)*f))
				p++, f++;
			else
				break;
		}
		if (*f == '\0') {
			if (endp != NULL)
				*endp = p;
			return s + i;
		}
	}
	return NULL;
}

/* bounce_text_has_any: does one of the phrases occur in s[0..len)? */
static int
bounce_text_has_any(const char *s, size_t len, const char *const *phrases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (bounce_text_find(s, len, phrases[i], NULL) != NULL)
			return 1;
	return 0;
}

/* bounce_text_add: append a copy of a to the list unless it is there. */
static void
bounce_text_add(char ***addrs, size_t *n, const char *a)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*addrs)[i], a) == 0)
			return;
	if (*n >= BOUNCE_TEXT_RCPT_MAX)
		return;
	*addrs = xreallocarray(*addrs, *n + 1, sizeof(**addrs));
	(*addrs)[(*n)++] = xstrdup(a);
}

/*
 * bounce_text_lead: the address leading line l[0..len) into out, or -1. Led means:
 * after white space, an optional SMTP reply and enhanced code ("550 5.1.1 ", Sendmail's
 * summary), and '<', '"' or '(', the address comes first and ends the word.
 */
static int
bounce_text_lead(const char *l, size_t len, char *out)
{
	const char *p = l, *end = l + len, *at, *after;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (end - p > 4 && isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-')) {
		p += 4;
		const char *q = p;
		while (q < end && (isdigit((unsigned char)*q) || *q == '.'))
			q++;
		if (q > p && q < end && *q == ' ')
			p = q + 1;
	}
	while (p < end && (*p == '<' || *p == '"' || *p == '(' || *p == '\''))
		p++;
	if (bounce_text_addr(p, end, out, &at, &after) == -1 || at != p)
		return -1;
	if (after < end && !isspace((unsigned char)*after) &&
	    strchr(">:,;).\"'", *after) == NULL)
		return -1;
	return 0;
}

/* bounce_text_run: the recipients row f finds in s[0..len), added to the list. */
static void
bounce_text_run(const struct bounce_text_format *f, const char *s, size_t len,
    char ***addrs, size_t *n)
{
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	int	 listing = f->starts[0] == NULL;

	for (const char *p = s, *end = s + len; p < end;) {
		const char *eol = memchr(p, '\n', end - p);
		size_t ll = (eol ? eol : end) - p;
		const char *hit = NULL, *at, *after;

		if (ll > BT_LINE_MAX)
			ll = BT_LINE_MAX;
		for (size_t k = 0; k < nitems(f->starts) && f->starts[k] != NULL && !hit; k++)
			if (bounce_text_find(p, ll, f->starts[k], &hit) == NULL)
				hit = NULL;
		if (hit != NULL) {
			listing = 1;
			if ((f->how & BT_INLINE) &&
			    bounce_text_addr(hit, p + ll, a, &at, &after) == 0)
				bounce_text_add(addrs, n, a);
		} else if (listing && (f->how & BT_LEAD) && bounce_text_lead(p, ll, a) == 0)
			bounce_text_add(addrs, n, a);
		p = eol ? eol + 1 : end;
	}
}

const char *
bounce_text_rcpts(const char *s, size_t len, char ***addrs, size_t *n)
{
	*addrs = NULL;
	*n = 0;
	for (size_t i = 0; i < nitems(bounce_text_formats); i++) {
		const struct bounce_text_format *f = &bounce_text_formats[i];
		int mine = 0;
		for (size_t k = 0; k < nitems(f->signs) && f->signs[k] != NULL && !mine; k++)
			mine = bounce_text_find(s, len, f->signs[k], NULL) != NULL;
		if (!mine)
			continue;
		bounce_text_run(f, s, len, addrs, n);
		if (*n > 0)
			return f->name;
	}
	return NULL;
}

void
bounce_text_rcpts_free(char **addrs, size_t n)
{
	if (addrs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(addrs);
}

/* bounce_text_looks_header: does line l look like "Name: value" of a message header? */
static int
bounce_text_looks_header(const struct bounce_text_line *l)
{
	size_t i = 0;

	while (i < l->len && (isalnum((unsigned char)l->s[i]) || l->s[i] == '-'))
		i++;
	return i > 0 && i < l->len && l->s[i] == ':';
}

void
bounce_text_notice_split(struct bounce_text_notice *c, const char *text)
{
	size_t cap = 0;

	memset(c, 0, sizeof(*c));

	c->textbuf = xstrdup(text);
	for (char *p = c->textbuf; *p != '\0';) {
		char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (c->nlines == cap) {
			cap = cap ? cap * 2 : 64;
			c->lines = xreallocarray(c->lines, cap, sizeof(*c->lines));
		}
		c->lines[c->nlines].s = p;
		c->lines[c->nlines].len = n;
		c->nlines++;
		if (eol == NULL)
			break;
		p = eol + 1;
	}

	c->cut = c->orig = c->nlines;
	for (size_t i = 0; i < c->nlines; i++) {
		const struct bounce_text_line *l = &c->lines[i];
		char buf[160];
		size_t n = l->len < sizeof(buf) - 1 ? l->len : sizeof(buf) - 1;

		memcpy(buf, l->s, n);
		buf[n] = '\0';
		if (bounce_text_has_any(buf, n, bounce_text_cut_markers,
		    nitems(bounce_text_cut_markers)) ||
		    ((buf[0] == '-' || buf[0] == '=' || buf[0] == '*' || buf[0] == '_') &&
		    strcasestr(buf, "original message") != NULL) ||
		    strncasecmp(buf, "original message:", 17) == 0) {
			c->cut = i;
			c->orig = i + 1;
			return;
		}
		/* A run of message headers starts a quoted original without a marker. */
		int known = 0;
		for (size_t k = 0; k < nitems(bounce_text_orig_headers); k++)
			if (strncasecmp(buf, bounce_text_orig_headers[k], strlen(bounce_text_orig_headers[k])) == 0)
				known = 1;
		if (!known || i == 0)
			continue;
		int more = 0, strong = 0;
		for (size_t j = i; j < c->nlines && j < i + 8; j++) {
			const struct bounce_text_line *h = &c->lines[j];
			if (h->len == 0)
				break;
			if (j > i && bounce_text_looks_header(h))
				more++;
			for (size_t k = 0; k < nitems(bounce_text_orig_strong); k++)
				if (h->len >= strlen(bounce_text_orig_strong[k]) && strncasecmp(h->s,
				    bounce_text_orig_strong[k], strlen(bounce_text_orig_strong[k])) == 0)
					strong = 1;
		}
		if (!strong)
			continue;
		if (more >= 2) {
			c->cut = c->orig = i;
			return;
		}
	}
}

size_t
bounce_text_notice_find(const struct bounce_text_notice *c, const char *addr, size_t from)
{
	size_t alen = strlen(addr);

	for (size_t i = from; i < c->cut; i++) {
		const struct bounce_text_line *l = &c->lines[i];
		size_t k = 0;
		while (k < l->len && (l->s[k] == ' ' || l->s[k] == '\t'))
			k++;
		if (l->len - k >= 3 && (strncasecmp(l->s + k, "to:", 3) == 0 ||
		    strncasecmp(l->s + k, "cc:", 3) == 0))
			continue;
		if (bounce_text_find(l->s, l->len, addr, NULL) != NULL && alen > 0)
			return i;
	}
	return c->cut;
}

int
bounce_text_notice_has(const struct bounce_text_notice *c, size_t from, size_t end,
    const char *const *phrases, size_t n)
{
	for (size_t i = from; i < end && i < c->nlines; i++)
		for (size_t k = 0; k < n; k++)
			if (bounce_text_find(c->lines[i].s, c->lines[i].len, phrases[k],
			    NULL) != NULL)
				return 1;
	return 0;
}

void
bounce_text_notice_free(struct bounce_text_notice *n)
{
	free(n->textbuf);
	free(n->lines);
	memset(n, 0, sizeof(*n));
}

size_t
bounce_text_format_count(void)
{
	return nitems(bounce_text_formats);
}

const char *
bounce_text_format_name(size_t i)
{
	return i < nitems(bounce_text_formats) ? bounce_text_formats[i].name : NULL;
}
