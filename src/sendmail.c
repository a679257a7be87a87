/*
 * sendmail: the pure parts of relay-sendmail (see sendmail.h): options, input
 * conversion, the header work for -t, Bcc: removal, From:/Date: when missing, and
 * dot-stuffing. Nothing here reads or writes a file or a socket.
 *
 * Why the input is converted rather than refused: programs that call sendmail write
 * lines ending in a bare LF (that is the Unix convention sendmail(8) has always
 * accepted), while relayd, like any careful SMTP server, refuses bare LF and bare CR
 * in DATA (RFC 5321 2.3.8, SMTP smuggling). So every line end becomes CRLF here, and
 * a CR that ends nothing is dropped (a "\r\r\n" from a doubly converted Windows file
 * stays one line end).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sendmail.h"
#include "smtp_parse.h"
#include "xmalloc.h"

/* A growing output buffer. */
struct sendmail_buf {
	char		*p;
	size_t		 len, cap;
};

static void
sendmail_buf_add(struct sendmail_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sendmail_buf_puts(struct sendmail_buf *b, const char *s)
{
	sendmail_buf_add(b, s, strlen(s));
}

/* Options. */

void
sendmail_opts_free(struct sendmail_opts *o)
{
	free(o->rcpts);
	o->rcpts = NULL;
	o->nrcpts = 0;
}

/* sendmail_opt_arg: does option letter c take an argument? */
static int
sendmail_opt_arg(char c)
{
	return c != '\0' && strchr("CfrFobBNRV", c) != NULL;
}

/* sendmail_opt_flag: is c an option without an argument (-t -i -v, or ignored)? */
static int
sendmail_opt_flag(char c)
{
	return c != '\0' && strchr("tivUmnG", c) != NULL;
}

/* sendmail_opt_set: act on one option letter with its argument (NULL for flags). */
static int
sendmail_opt_set(struct sendmail_opts *o, char c, const char *arg, char *err,
    size_t errlen)
{
	switch (c) {
	case 'C':
		o->config = arg;
		break;
	case 'f':
	case 'r':	/* the old name of -f */
		o->sender = arg;
		break;
	case 'F':
		o->fullname = arg;
		break;
	case 't':
		o->extract = 1;
		break;
	case 'i':
		o->ignore_dots = 1;
		break;
	case 'v':
		o->verbose = 1;
		break;
	case 'o':
		/* -oi is -i; sendmail's other -oX settings (-odi, -oem, -oee, -ob...) */
		/* are about its own queue and error mail, which relayd does not have. */
		if (strcmp(arg, "i") == 0)
			o->ignore_dots = 1;
		break;
	case 'b':
		if (strcmp(arg, "m") == 0)
			o->mode = 'm';
		else if (strcmp(arg, "i") == 0)
			o->mode = 'i';
		else if (strcmp(arg, "s") == 0)		/* Symfony Mailer, Laravel */
			o->mode = 's';
		else if (strcmp(arg, "p") == 0) {
			snprintf(err, errlen, "-bp: relay-sendmail keeps no queue of its own; "
			    "relayd's queue is listed by relayctl queue list");
			return -1;
		} else {
			snprintf(err, errlen, "-b%s: mode not supported (only -bm, deliver "
			    "the message on standard input, and -bs, SMTP on standard input "
			    "and output)", arg);
			return -1;
		}
		break;
	default:
		/* -U, -m, -n, -G, -B TYPE, -N DSN, -R RET, -V ENVID: nothing to do */
		break;
	}
	return 0;
}

int
sendmail_parse_args(int argc, char **argv, struct sendmail_opts *o, char *err,
    size_t errlen)
{
	int only_rcpts = 0;

	memset(o, 0, sizeof(*o));
	o->mode = 'm';
	o->rcpts = xcalloc(argc > 0 ? (size_t)argc : 1, sizeof(char *));
	err[0] = '\0';
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (only_rcpts || a[0] != '-') {
			o->rcpts[o->nrcpts++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_rcpts = 1;
			continue;
		}
		if (a[1] == '\0') {
			snprintf(err, errlen, "\"-\" is not an option");
			return -1;
		}
		for (const char *p = a + 1; *p != '\0'; p++) {
			if (sendmail_opt_arg(*p)) {
				const char *arg = p[1] != '\0' ? p + 1 : i + 1 < argc ?
				    argv[++i] : NULL;

				if (arg == NULL) {
					snprintf(err, errlen, "option -%c needs an argument", *p);
					return -1;
				}
				if (sendmail_opt_set(o, *p, arg, err, errlen) == -1)
					return -1;
				break;
			}
			if (!sendmail_opt_flag(*p)) {
				if (isprint((unsigned char)*p))
					snprintf(err, errlen, "unknown option -%c", *p);
				else
					snprintf(err, errlen, "unknown option in \"%.40s\"", a);
				return -1;
			}
			sendmail_opt_set(o, *p, NULL, err, errlen);
		}
	}
	return 0;
}

/* Recipients. */

void
sendmail_rcpts_add(struct sendmail_rcpts *r, const char *addr, size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->addr[i]) == len && strncasecmp(r->addr[i], addr, len) == 0)
			return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->addr = xreallocarray(r->addr, r->cap, sizeof(char *));
	}
	r->addr[r->n++] = xstrndup(addr, len);
}

void
sendmail_rcpts_free(struct sendmail_rcpts *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->addr[i]);
	free(r->addr);
	memset(r, 0, sizeof(*r));
}

static int
sendmail_is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * sendmail_skip_quoted: s[i] is the opening '"' (or '[' of a domain literal): the
 * index just past the closing one, or len when it is never closed.
 */
static size_t
sendmail_skip_quoted(const char *s, size_t i, size_t len, char close)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == close)
			return i + 1;
	}
	return len + 1;
}

/* sendmail_skip_comment: s[i] is '(': the index past its matching ')', or len + 1. */
static size_t
sendmail_skip_comment(const char *s, size_t i, size_t len)
{
	int depth = 0;

	for (; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return len + 1;
}

/*
 * sendmail_clean: copy the addr-spec in s[a..b) to out without comments and without
 * unquoted white space. *inner_ws says whether white space (or a comment) separated
 * two parts, as in "john smith@x", which is a display name without its <address>.
 * Returns the length written (out has room for b - a + 1).
 */
static size_t
sendmail_clean(const char *s, size_t a, size_t b, char *out, int *inner_ws)
{
	size_t o = 0, e;
	int pending = 0;

	*inner_ws = 0;
	while (a < b) {
		if (sendmail_is_wsp(s[a]) || s[a] == '(') {
			pending = o > 0;
			a = s[a] == '(' ? sendmail_skip_comment(s, a, b) : a + 1;
			continue;
		}
		if (pending)
			*inner_ws = 1;
		pending = 0;
		e = s[a] == '"' ? sendmail_skip_quoted(s, a, b, '"') :
		    s[a] == '[' ? sendmail_skip_quoted(s, a, b, ']') : a + 1;
		if (e > b)
			e = b;
		memcpy(out + o, s + a, e - a);
		o += e - a;
		a = e;
	}
	out[o] = '\0';
	return o;
}

/* sendmail_addr_check: is addr a deliverable addr-spec? NULL, or why not. */
static const char *
sendmail_addr_check(const char *addr, size_t len)
{
	int at = 0;

	for (size_t i = 0; i < len; i++) {
		if (addr[i] == '"')
			i = sendmail_skip_quoted(addr, i, len, '"') - 1;
		else if (addr[i] == '@')
			at = 1;
	}
	if (!at)
		return "has no @domain (relayd sends to the Internet: a local user name "
		    "such as root needs a full address, e.g. MAILTO=admin@example.org)";
	if (len > SMTP_PATH_MAX - 3)
		return "is too long";
	if (!smtp_parse_mailbox(addr, len))
		return "is not a valid mail address";
	return NULL;
}

/* sendmail_element: the address of one list member s[a..b) into r; 0 or -1. */
static int
sendmail_element(const char *s, size_t a, size_t b, size_t lt, size_t gt,
    struct sendmail_rcpts *r, char *err, size_t errlen)
{
	char *addr = xmalloc(b - a + 1), *p;
	const char *why = NULL;
	size_t n;
	int inner_ws;

	if (lt != (size_t)-1) {
		n = sendmail_clean(s, lt + 1, gt, addr, &inner_ws);
		p = addr;
		if (n > 0 && addr[0] == '@') {	/* obsolete source route: <@a,@b:x@y> */
			char *colon = strchr(addr, ':');

			if (colon != NULL) {
				p = colon + 1;
				n -= (size_t)(p - addr);
			}
		}
		if (n == 0)
			why = "is empty";
	} else {
		n = sendmail_clean(s, a, b, addr, &inner_ws);
		p = addr;
		if (n == 0) {		/* an empty member: "a@x, , b@y" or "group:;" */
			free(addr);
			return 0;
		}
		if (inner_ws)
			why = "is not an address (a display name needs the address in <>)";
	}
	if (why == NULL)
		why = sendmail_addr_check(p, n);
	if (why != NULL) {
		size_t sa = lt != (size_t)-1 ? lt : a, sb = gt != (size_t)-1 ? gt + 1 : b;

		while (sa < sb && sendmail_is_wsp(s[sa]))
			sa++;
		while (sb > sa && sendmail_is_wsp(s[sb - 1]))
			sb--;
		snprintf(err, errlen, "\"%.*s\" %s", (int)(sb - sa > 100 ? 100 : sb - sa),
		    s + sa, why);
		free(addr);
		return -1;
	}
	sendmail_rcpts_add(r, p, n);
	free(addr);
	return 0;
}

int
sendmail_addrlist(const char *s, size_t len, struct sendmail_rcpts *r, char *err,
    size_t errlen)
{
	size_t i = 0;

	for (;;) {
		size_t start = i, lt = (size_t)-1, gt = (size_t)-1;

		while (i < len) {
			char c = s[i];

			if (c == '"' || c == '[' || c == '(') {
				i = c == '(' ? sendmail_skip_comment(s, i, len) :
				    sendmail_skip_quoted(s, i, len, c == '"' ? '"' : ']');
				if (i > len) {
					snprintf(err, errlen, "unbalanced %s in \"%.*s\"",
					    c == '"' ? "quotes" : c == '(' ? "parentheses" :
					    "brackets", (int)(len - start > 100 ? 100 :
					    len - start), s + start);
					return -1;
				}
				continue;
			}
			if (lt != (size_t)-1 && gt == (size_t)-1) {
				if (c == '>')
					gt = i;
				i++;
				continue;	/* inside <>: routes hold ',' and ':' */
			}
			if (c == '<' && lt == (size_t)-1) {
				lt = i++;
				continue;
			}
			if (c == '<' || c == '>') {
				snprintf(err, errlen, "stray '%c' in \"%.*s\"", c,
				    (int)(len - start > 100 ? 100 : len - start), s + start);
				return -1;
			}
			if (c == ':') {		/* "Group name:" starts a group */
				start = ++i;
				lt = gt = (size_t)-1;
				continue;
			}
			if (c == ',' || c == ';')
				break;
			i++;
		}
		if (lt != (size_t)-1 && gt == (size_t)-1) {
			snprintf(err, errlen, "unclosed '<' in \"%.*s\"",
			    (int)(len - start > 100 ? 100 : len - start), s + start);
			return -1;
		}
		if (sendmail_element(s, start, i, lt, gt, r, err, errlen) == -1)
			return -1;
		if (i >= len)
			return 0;
		i++;
	}
}

/* Input. */

char *
sendmail_canon(const char *in, size_t len, int ignore_dots, size_t *outlen)
{
	char *out = xmalloc(2 * len + 3);
	size_t i = 0, o = 0, start;

	if (len >= 5 && memcmp(in, "From ", 5) == 0) {	/* an mbox separator */
		while (i < len && in[i] != '\n')
			i++;
		i += i < len;
	}
	while (i < len) {
		start = o;
		for (; i < len && in[i] != '\n'; i++)
			if (in[i] != '\r')
				out[o++] = in[i];
		i += i < len;
		if (!ignore_dots && o - start == 1 && out[start] == '.') {
			o = start;
			break;
		}
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Header. */

/* sendmail_field_name: the length of the field name the line s[0..n) starts with, or 0. */
static size_t
sendmail_field_name(const char *s, size_t n)
{
	size_t i = 0, name;

	while (i < n && s[i] > ' ' && s[i] < 127 && s[i] != ':')
		i++;
	name = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))	/* obs-optional (RFC 5322 4.5) */
		i++;
	return name > 0 && i < n && s[i] == ':' ? name : 0;
}

static int
sendmail_name_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(s, name, n) == 0;
}

/* sendmail_phrase: append display name v as a phrase, a quoted string or RFC 2047. */
static void
sendmail_phrase(struct sendmail_buf *b, const char *v)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct sendmail_buf clean = { 0 };
	int plain = 1, eight = 0;

	/* Control characters go: a -F "x\nBcc: y" must not become a header field. */
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			continue;
		sendmail_buf_add(&clean, p, 1);
		if (c >= 0x80)
			eight = 1;
		else if (!isalnum(c) && c != ' ' && strchr("!#$%&'*+-/=?^_`{|}~", c) == NULL)
			plain = 0;
	}
	if (clean.len == 0)
		;
	else if (eight) {
		/* Encoded words of at most 45 octets each (60 in base64, RFC 2047 2). */
		for (size_t i = 0; i < clean.len;) {
			size_t n = clean.len - i > 45 ? 45 : clean.len - i;
			unsigned char *u = (unsigned char *)clean.p + i;

			while (n < clean.len - i && n > 1 && (u[n] & 0xc0) == 0x80)
				n--;	/* no UTF-8 sequence split across two words */
			sendmail_buf_puts(b, i ? " =?UTF-8?B?" : "=?UTF-8?B?");
			for (size_t j = 0; j < n; j += 3) {
				unsigned long x = (unsigned long)u[j] << 16 |
				    (j + 1 < n ? (unsigned long)u[j + 1] << 8 : 0) |
				    (j + 2 < n ? u[j + 2] : 0);
				char q[4] = { b64[x >> 18 & 63], b64[x >> 12 & 63],
				    j + 1 < n ? b64[x >> 6 & 63] : '=',
				    j + 2 < n ? b64[x & 63] : '=' };

				sendmail_buf_add(b, q, 4);
			}
			sendmail_buf_puts(b, "?=");
			i += n;
		}
	} else if (plain && clean.p[0] != ' ' && clean.p[clean.len - 1] != ' ')
		sendmail_buf_add(b, clean.p, clean.len);
	else {
		sendmail_buf_puts(b, "\"");
		for (size_t i = 0; i < clean.len; i++) {
			if (clean.p[i] == '"' || clean.p[i] == '\\')
				sendmail_buf_puts(b, "\\");
			sendmail_buf_add(b, clean.p + i, 1);
		}
		sendmail_buf_puts(b, "\"");
	}
	free(clean.p);
}

/* sendmail_date: append "Date: ...\r\n" for t in local time (RFC 5322 3.3). */
static void
sendmail_date(struct sendmail_buf *b, time_t t)
{
	static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	char line[80];
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(line, sizeof(line), "Date: %s, %d %s %d %02d:%02d:%02d %c%02ld%02ld\r\n",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
	sendmail_buf_puts(b, line);
}

int
sendmail_prepare(const char *msg, size_t len, const struct sendmail_prep *p,
    struct sendmail_rcpts *r, char **out, size_t *outlen, char *err, size_t errlen)
{
	struct sendmail_buf b = { 0 };
	size_t off = 0, body = len, field = 0, name = 0;
	int has_from = 0, has_date = 0, in_field = 0;

	sendmail_buf_add(&b, "", 0);
	/* Each field is handled when the line after it shows where it ends. */
	for (;;) {
		const char *eol = off < len ? memchr(msg + off, '\n', len - off) : NULL;
		size_t step = eol ? (size_t)(eol - (msg + off)) + 1 : 0, n = 0;
		size_t linelen = step > 1 && eol[-1] == '\r' ? step - 2 : step ? step - 1 : 0;
		int cont = eol != NULL && linelen > 0 && (msg[off] == ' ' || msg[off] == '\t');

		if (eol != NULL && !cont)
			n = sendmail_field_name(msg + off, linelen);
		if (in_field && !cont) {
			const char *f = msg + field, *v = f + name;
			int bcc = sendmail_name_is(f, name, "bcc") ||
			    sendmail_name_is(f, name, "resent-bcc");

			v = memchr(v, ':', off - field - name) + 1;
			if (p->extract && (bcc || sendmail_name_is(f, name, "to") ||
			    sendmail_name_is(f, name, "cc"))) {
				char e[200];

				if (sendmail_addrlist(v, (size_t)(msg + off - v), r, e,
				    sizeof(e)) == -1) {
					snprintf(err, errlen, "%.*s: %s", (int)name, f, e);
					free(b.p);
					return -1;
				}
			}
			has_from |= sendmail_name_is(f, name, "from");
			has_date |= sendmail_name_is(f, name, "date");
			if (!bcc)
				sendmail_buf_add(&b, f, off - field);
			in_field = 0;
		}
		if (cont && in_field) {
			off += step;
			continue;
		}
		if (n == 0) {
			/* The empty line, the first line that is not a field, or the end. */
			body = eol != NULL && linelen == 0 ? off + step : off;
			break;
		}
		field = off;
		name = n;
		in_field = 1;
		off += step;
	}
	if (!has_from) {
		sendmail_buf_puts(&b, "From: ");
		if (p->fullname != NULL && p->fullname[0] != '\0') {
			size_t before = b.len;

			sendmail_phrase(&b, p->fullname);
			sendmail_buf_puts(&b, b.len > before ? " <" : "<");
			sendmail_buf_puts(&b, p->from_addr);
			sendmail_buf_puts(&b, ">\r\n");
		} else {
			sendmail_buf_puts(&b, p->from_addr);
			sendmail_buf_puts(&b, "\r\n");
		}
	}
	if (!has_date)
		sendmail_date(&b, p->now);
	sendmail_buf_add(&b, "\r\n", 2);
	sendmail_buf_add(&b, msg + body, len - body);
	*out = b.p;
	*outlen = b.len;
	return 0;
}

char *
sendmail_dotstuff(const char *msg, size_t len, size_t *outlen)
{
	struct sendmail_buf b = { 0 };
	size_t i = 0;

	sendmail_buf_add(&b, "", 0);
	while (i < len) {
		const char *eol = memchr(msg + i, '\n', len - i);
		size_t n = eol ? (size_t)(eol - (msg + i)) + 1 : len - i;

		if (msg[i] == '.')
			sendmail_buf_add(&b, ".", 1);
		sendmail_buf_add(&b, msg + i, n);
		i += n;
	}
	if (b.len > 0 && b.p[b.len - 1] != '\n')
		sendmail_buf_add(&b, "\r\n", 2);	/* not canonical input; still end it */
	sendmail_buf_add(&b, ".\r\n", 3);
	*outlen = b.len;
	return b.p;
}

int
sendmail_has_8bit(const char *msg, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)msg[i] >= 0x80)
			return 1;
	return 0;
}
