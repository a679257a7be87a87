/*
 * smtp_parse: pure parsers for what an SMTP client says to smtp_session (RFC 5321):
 * the command line split, the MAIL FROM and RCPT TO arguments with their ESMTP
 * parameters (SIZE RFC 1870, BODY RFC 6152, SMTPUTF8 RFC 6531, AUTH RFC 4954), and
 * the Mailbox grammar of RFC 5321 4.1.2 with the UTF-8 extensions of RFC 6531.
 * No I/O and no allocation; each reply line handed back is a static string.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "smtp_parse.h"

#define MAIL_SYNTAX	"501 5.5.4 Syntax: MAIL FROM:<address>"
#define MAIL_BADADDR	"501 5.1.7 Bad sender address syntax"
#define MAIL_TOOLONG	"501 5.1.7 Sender address too long"
#define MAIL_NEEDUTF8	"553 5.6.7 Non-ASCII sender address needs SMTPUTF8"
#define RCPT_SYNTAX	"501 5.5.4 Syntax: RCPT TO:<address>"
#define RCPT_BADADDR	"501 5.1.3 Bad recipient address syntax"
#define RCPT_TOOLONG	"501 5.1.3 Recipient address too long"
#define PARAM_SYNTAX	"501 5.5.4 Syntax error in parameters"
#define PARAM_DUP	"501 5.5.4 Duplicate parameter"
#define PARAM_SIZE	"501 5.5.4 Bad SIZE parameter"
#define PARAM_BODY	"555 5.5.4 Unsupported BODY type"
#define PARAM_UNKNOWN	"555 5.5.4 Unsupported parameter"

/* Results of smtp_parse_path besides 0. */
#define PATH_SYNTAX	-1	/* no <...> where one belongs */
#define PATH_BADADDR	-2	/* <...> found, its mailbox or route is bad */
#define PATH_TOOLONG	-3	/* longer than SMTP_PATH_MAX */

static int
smtp_parse_alpha(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int
smtp_parse_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
smtp_parse_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* smtp_parse_prefix: does s start with the ASCII word w, ignoring case? */
static int
smtp_parse_prefix(const char *s, const char *w)
{
	for (; *w != '\0'; s++, w++)
		if (smtp_parse_upper((unsigned char)*s) != *w)
			return 0;
	return 1;
}

/* smtp_parse_eq: is s[0..n) the upper-case ASCII word w, ignoring case? */
static int
smtp_parse_eq(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && smtp_parse_prefix(s, w);
}

/* smtp_parse_utf8: length (2..4) of the well-formed UTF-8 sequence at p, else 0. */
static size_t
smtp_parse_utf8(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t k, i;

	if (n == 0)
		return 0;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		k = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		k = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;		/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		k = 4;
		if (p[0] == 0xf0)
			lo = 0x90;		/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;		/* above U+10FFFF */
	} else
		return 0;
	if (n < k || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < k; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return k;
}

/* smtp_parse_atext: RFC 5321 atext (RFC 5322 3.2.3), ASCII part. */
static int
smtp_parse_atext(int c)
{
	return smtp_parse_alpha(c) || smtp_parse_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* smtp_parse_local: is s[0..n) a Dot-string or Quoted-string local part? */
static int
smtp_parse_local(const unsigned char *s, size_t n)
{
	size_t i = 0, k;
	int dot = 1;		/* at the start of an atom */

	if (n == 0 || n > SMTP_LOCAL_MAX)
		return 0;
	if (s[0] == '"') {
		for (i = 1; i < n - 1; i++) {
			if (s[i] == '\\') {
				if (++i >= n - 1 || s[i] < 32 || s[i] > 126)
					return 0;
			} else if (s[i] >= 0x80) {
				if ((k = smtp_parse_utf8(s + i, n - 1 - i)) == 0)
					return 0;
				i += k - 1;
			} else if (s[i] < 32 || s[i] == '"' || s[i] > 126)
				return 0;
		}
		return n >= 2 && i == n - 1 && s[n - 1] == '"';
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (dot)
				return 0;
			dot = 1;
		} else if (s[i] >= 0x80) {
			if ((k = smtp_parse_utf8(s + i, n - i)) == 0)
				return 0;
			i += k - 1;
			dot = 0;
		} else if (smtp_parse_atext(s[i]))
			dot = 0;
		else
			return 0;
	}
	return !dot;
}

/* smtp_parse_ipv4: is s[0..n) four dot-separated numbers 0..255 (1..3 digits)? */
static int
smtp_parse_ipv4(const unsigned char *s, size_t n)
{
	size_t i = 0, digits;
	int part, v;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
		for (v = 0, digits = 0; i < n && smtp_parse_digit(s[i]); i++) {
			if (++digits > 3)
				return 0;
			v = v * 10 + (s[i] - '0');
		}
		if (digits == 0 || v > 255)
			return 0;
	}
	return i == n;
}

/*
 * smtp_parse_literal: is s[0..n) an address literal, "[" IPv4 "]" or "[IPv6:" IPv6
 * "]"? General-address-literals (RFC 5321 4.1.3) are refused: no tag but IPv6 is
 * registered, and relayd could not route one.
 */
static int
smtp_parse_literal(const unsigned char *s, size_t n)
{
	struct in6_addr a6;
	char buf[64];

	if (n < 2 || s[0] != '[' || s[n - 1] != ']')
		return 0;
	s++;
	n -= 2;
	if (n >= 5 && smtp_parse_prefix((const char *)s, "IPV6:")) {
		if (n - 5 >= sizeof(buf) || memchr(s, '\0', n) != NULL)
			return 0;
		memcpy(buf, s + 5, n - 5);
		buf[n - 5] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1;
	}
	return smtp_parse_ipv4(s, n);
}

/*
 * smtp_parse_domain: is s[0..n) a Domain (RFC 5321 4.1.2: LDH labels of 1..63
 * octets, no hyphen at either end; RFC 6531 U-labels as UTF-8) or address literal?
 */
static int
smtp_parse_domain(const unsigned char *s, size_t n)
{
	size_t i, k, label = 0;
	int last = '.';		/* previous octet class: '.', '-' or 'a' */

	if (n == 0 || n > SMTP_DOMAIN_MAX)
		return 0;
	if (s[0] == '[')
		return smtp_parse_literal(s, n);
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (last != 'a')
				return 0;
			last = '.';
			label = 0;
			continue;
		}
		if (s[i] == '-') {
			if (last == '.')
				return 0;
			last = '-';
			k = 1;
		} else if (s[i] >= 0x80) {
			if ((k = smtp_parse_utf8(s + i, n - i)) == 0)
				return 0;
			last = 'a';
		} else if (smtp_parse_alpha(s[i]) || smtp_parse_digit(s[i])) {
			last = 'a';
			k = 1;
		} else
			return 0;
		if ((label += k) > 63)
			return 0;
		i += k - 1;
	}
	return last == 'a';
}

/* smtp_parse_mailbox: RFC 5321 Mailbox with RFC 6531 UTF-8 (see smtp_parse.h). */
int
smtp_parse_mailbox(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t at;

	if (len == 0)
		return 0;
	if (u[0] == '"') {
		/* the closing quote: skip quoted-pairs, which may hold '"' and '@' */
		for (at = 1; at < len && u[at] != '"'; at++)
			if (u[at] == '\\')
				at++;
		at++;
	} else
		for (at = 0; at < len && u[at] != '@'; at++)
			;
	if (at >= len || u[at] != '@')
		return 0;
	return smtp_parse_local(u, at) && smtp_parse_domain(u + at + 1, len - at - 1);
}

/*
 * smtp_parse_path: parse "<" [A-d-l ":"] Mailbox ">" or "<>" at *pp, put the mailbox
 * (without the source route, which RFC 5321 4.1.2 lets us drop) in addr and move *pp
 * past ">". Returns 0 or a PATH_* error.
 */
static int
smtp_parse_path(const char **pp, char addr[SMTP_PATH_MAX])
{
	const char *lt = *pp, *p, *box, *d;
	size_t n;

	addr[0] = '\0';
	if (*lt != '<')
		return PATH_SYNTAX;
	p = lt + 1;
	if (*p == '>') {
		*pp = p + 1;
		return 0;
	}
	/* A-d-l: "@" Domain *( "," "@" Domain ) ":" */
	if (*p == '@') {
		for (;;) {
			d = ++p;
			p += strcspn(p, ",:> ");
			if (!smtp_parse_domain((const unsigned char *)d,
			    (size_t)(p - d)))
				return p - lt > SMTP_PATH_MAX ? PATH_TOOLONG :
				    PATH_BADADDR;
			if (*p == ':')
				break;
			if (*p != ',' || p[1] != '@')
				return PATH_BADADDR;
			p++;
		}
		p++;
	}
	box = p;
	if (*p == '"') {
		for (p++; *p != '\0' && *p != '"'; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		if (*p == '"')
			p++;
	}
	p += strcspn(p, "> ");
	if (*p != '>')
		return *p == '\0' && p - lt > SMTP_PATH_MAX ? PATH_TOOLONG :
		    PATH_BADADDR;
	n = (size_t)(p - box);
	if ((size_t)(p + 1 - lt) > SMTP_PATH_MAX)
		return PATH_TOOLONG;
	if (!smtp_parse_mailbox(box, n))
		return PATH_BADADDR;
	memcpy(addr, box, n);
	addr[n] = '\0';
	*pp = p + 1;
	return 0;
}

/* One ESMTP parameter, keyword[=value], as pointers into the argument. */
struct smtp_parse_param {
	const char	*key, *val;
	size_t		 keylen, vallen;	/* val NULL when there is no "=" */
};

/*
 * smtp_parse_param: read the next parameter at *pp (after at least one space),
 * RFC 5321 4.1.2 esmtp-param. Returns 1 with one read, 0 at the end, -1 on bad syntax.
 */
static int
smtp_parse_param(const char **pp, struct smtp_parse_param *pa)
{
	const char *p = *pp;
	int c;

	if (*p == '\0')
		return 0;
	if (*p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	if (*p == '\0')
		return 0;		/* trailing spaces */
	pa->key = p;
	if (!smtp_parse_alpha(*p) && !smtp_parse_digit(*p))
		return -1;
	while (smtp_parse_alpha(*p) || smtp_parse_digit(*p) || *p == '-')
		p++;
	pa->keylen = (size_t)(p - pa->key);
	pa->val = NULL;
	pa->vallen = 0;
	if (*p == '=') {
		pa->val = ++p;
		while ((c = (unsigned char)*p) >= 33 && c <= 126 && c != '=')
			p++;
		pa->vallen = (size_t)(p - pa->val);
		if (pa->vallen == 0)
			return -1;
	}
	if (*p != ' ' && *p != '\0')
		return -1;
	*pp = p;
	return 1;
}

/* smtp_parse_size: RFC 1870 size-value, 1*20DIGIT; values past the type clamp. */
static int
smtp_parse_size(const char *s, size_t n, unsigned long long *v)
{
	unsigned d;
	size_t i;

	if (n == 0 || n > 20)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++) {
		if (!smtp_parse_digit(s[i]))
			return -1;
		d = (unsigned)(s[i] - '0');
		if (*v > (ULLONG_MAX - d) / 10)
			*v = ULLONG_MAX;
		else
			*v = *v * 10 + d;
	}
	return 0;
}

/* smtp_parse_has8bit: does the string hold an octet >= 0x80? */
static int
smtp_parse_has8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/*
 * smtp_parse_mail: the argument of MAIL (see smtp_parse.h). AUTH=<mailbox> (RFC
 * 4954 5) is accepted and ignored, since clients send it to any server that offers
 * AUTH; an address with UTF-8 needs the SMTPUTF8 parameter (RFC 6531 3.4).
 */
int
smtp_parse_mail(const char *args, struct smtp_mail_args *out, const char **err)
{
	struct smtp_parse_param pa;
	const char *p = args;
	int r, seen_size = 0, seen_body = 0, seen_auth = 0;

	memset(out, 0, sizeof(*out));
	if (!smtp_parse_prefix(p, "FROM:")) {
		*err = MAIL_SYNTAX;
		return -1;
	}
	p += 5;
	if (*p == ' ')
		p++;
	switch (smtp_parse_path(&p, out->addr)) {
	case 0:
		break;
	case PATH_SYNTAX:
		*err = MAIL_SYNTAX;
		return -1;
	case PATH_TOOLONG:
		*err = MAIL_TOOLONG;
		return -1;
	default:
		*err = MAIL_BADADDR;
		return -1;
	}
	if (*p != ' ' && *p != '\0') {
		*err = MAIL_SYNTAX;
		return -1;
	}
	while ((r = smtp_parse_param(&p, &pa)) == 1) {
		if (smtp_parse_eq(pa.key, pa.keylen, "SIZE")) {
			if (seen_size++) {
				*err = PARAM_DUP;
				return -1;
			}
			if (pa.val == NULL ||
			    smtp_parse_size(pa.val, pa.vallen, &out->size) == -1) {
				*err = PARAM_SIZE;
				return -1;
			}
		} else if (smtp_parse_eq(pa.key, pa.keylen, "BODY")) {
			if (seen_body++) {
				*err = PARAM_DUP;
				return -1;
			}
			if (pa.val != NULL && smtp_parse_eq(pa.val, pa.vallen,
			    "8BITMIME"))
				out->body_8bitmime = 1;
			else if (pa.val == NULL || !smtp_parse_eq(pa.val,
			    pa.vallen, "7BIT")) {
				*err = PARAM_BODY;
				return -1;
			}
		} else if (smtp_parse_eq(pa.key, pa.keylen, "SMTPUTF8")) {
			if (out->smtputf8++ || pa.val != NULL) {
				*err = pa.val != NULL ? PARAM_SYNTAX : PARAM_DUP;
				return -1;
			}
		} else if (smtp_parse_eq(pa.key, pa.keylen, "AUTH")) {
			if (seen_auth++ || pa.val == NULL) {
				*err = pa.val == NULL ? PARAM_SYNTAX : PARAM_DUP;
				return -1;
			}
		} else {
			*err = PARAM_UNKNOWN;
			return -1;
		}
	}
	if (r == -1) {
		*err = PARAM_SYNTAX;
		return -1;
	}
	if (!out->smtputf8 && smtp_parse_has8bit(out->addr)) {
		*err = MAIL_NEEDUTF8;
		return -1;
	}
	return 0;
}

/* smtp_parse_rcpt: the argument of RCPT (see smtp_parse.h); no parameter is known. */
int
smtp_parse_rcpt(const char *args, char addr[SMTP_PATH_MAX], const char **err)
{
	struct smtp_parse_param pa;
	const char *p = args;
	int r;

	addr[0] = '\0';
	if (!smtp_parse_prefix(p, "TO:")) {
		*err = RCPT_SYNTAX;
		return -1;
	}
	p += 3;
	if (*p == ' ')
		p++;
	switch (smtp_parse_path(&p, addr)) {
	case 0:
		break;
	case PATH_SYNTAX:
		*err = RCPT_SYNTAX;
		return -1;
	case PATH_TOOLONG:
		*err = RCPT_TOOLONG;
		return -1;
	default:
		*err = RCPT_BADADDR;
		return -1;
	}
	if (addr[0] == '\0') {
		*err = RCPT_BADADDR;		/* the null path */
		return -1;
	}
	if (*p != ' ' && *p != '\0') {
		addr[0] = '\0';
		*err = RCPT_SYNTAX;
		return -1;
	}
	if ((r = smtp_parse_param(&p, &pa)) != 0) {
		addr[0] = '\0';
		*err = r == -1 ? PARAM_SYNTAX : PARAM_UNKNOWN;
		return -1;
	}
	return 0;
}

/* smtp_parse_command: split a command line into verb and argument (smtp_parse.h). */
int
smtp_parse_command(const char *line, size_t len, char verb[SMTP_VERB_MAX],
    const char **args)
{
	size_t i;

	verb[0] = '\0';
	*args = "";
	if (len == 0 || memchr(line, '\0', len) != NULL ||
	    memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL)
		return -1;
	for (i = 0; i < len && line[i] != ' '; i++) {
		if (i >= SMTP_VERB_MAX - 1 || !smtp_parse_alpha((unsigned char)line[i])) {
			verb[0] = '\0';
			return -1;
		}
		verb[i] = (char)smtp_parse_upper((unsigned char)line[i]);
	}
	if (i == 0)
		return -1;
	verb[i] = '\0';
	if (i < len)
		*args = line + i + 1;
	return 0;
}
