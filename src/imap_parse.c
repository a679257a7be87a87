/*
 * imap_parse: framing and reading of IMAP server responses (RFC 3501 7, 9).
 *
 * The grammar is followed where it matters to a client that logs in, selects one
 * mailbox, fetches whole messages by UID and waits with IDLE; elsewhere it is
 * lenient the way servers need (a status response without text, a LF without CR).
 * Everything is bounds-checked against the buffer given: nothing here reads past
 * len, and nothing assumes a NUL terminator.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "imap_parse.h"

#define IMAP_PARSE_DEPTH	32	/* nesting of parenthesized lists we follow */

/* A read position in the response. */
struct imap_cur {
	const char	*p, *end;
};

static const char *const imap_parse_status_names[] = {
	[IMAP_ST_NONE] = "", [IMAP_ST_OK] = "OK", [IMAP_ST_NO] = "NO",
	[IMAP_ST_BAD] = "BAD", [IMAP_ST_PREAUTH] = "PREAUTH", [IMAP_ST_BYE] = "BYE",
};

const char *
imap_parse_status_name(enum imap_status s)
{
	return (size_t)s < sizeof(imap_parse_status_names) /
	    sizeof(imap_parse_status_names[0]) ? imap_parse_status_names[s] : "";
}

/* imap_parse_atom_char: ATOM-CHAR of RFC 3501 9 (any CHAR but atom-specials). */
static int
imap_parse_atom_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

int
imap_parse_literal(const char *line, size_t len, uint64_t *n)
{
	size_t i, end;
	uint64_t v = 0;

	if (len < 3 || line[len - 1] != '}')
		return 0;
	end = len - 1;
	if (line[end - 1] == '+')	/* LITERAL+ (RFC 7888): the server never sends it */
		end--;
	for (i = end; i > 0 && isdigit((unsigned char)line[i - 1]); i--)
		;
	if (i == 0 || line[i - 1] != '{')
		return 0;
	if (i == end || end - i > 10)
		return -1;
	for (size_t j = i; j < end; j++)
		v = v * 10 + (uint64_t)(line[j] - '0');
	if (v > IMAP_LITERAL_MAX)
		return -1;
	*n = v;
	return 1;
}

ssize_t
imap_parse_frame(const char *buf, size_t len, size_t max)
{
	size_t pos = 0;

	for (;;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t linelen, next;
		uint64_t lit;
		int r;

		if (nl == NULL)
			return len > max ? -1 : 0;
		next = (size_t)(nl - buf) + 1;
		linelen = (size_t)(nl - (buf + pos));
		if (linelen > 0 && nl[-1] == '\r')
			linelen--;
		if (next > max)
			return -1;
		if ((r = imap_parse_literal(buf + pos, linelen, &lit)) == -1)
			return -1;
		if (r == 0)
			return (ssize_t)next;
		if (lit > max || next + lit > max)
			return -1;
		if (len - next < lit)
			return 0;
		pos = next + (size_t)lit;
	}
}

/* imap_parse_sp: skip one or more spaces. Returns how many were skipped. */
static size_t
imap_parse_sp(struct imap_cur *c)
{
	size_t n = 0;

	while (c->p < c->end && *c->p == ' ') {
		c->p++;
		n++;
	}
	return n;
}

/*
 * imap_parse_atom: read an atom (upper-cased) into out, stopping before a "[" if
 * stop_bracket (a FETCH attribute's section). Returns its length, 0 if none.
 */
static size_t
imap_parse_atom(struct imap_cur *c, char *out, size_t outlen, int stop_bracket)
{
	size_t n = 0;

	while (c->p < c->end && imap_parse_atom_char((unsigned char)*c->p) &&
	    !(stop_bracket && *c->p == '[')) {
		if (n + 1 >= outlen)
			return 0;
		out[n++] = (char)toupper((unsigned char)*c->p++);
	}
	out[n] = '\0';
	return n;
}

/* imap_parse_number: a number (RFC 3501 nz-number/number, 32 bits). 0 or -1. */
static int
imap_parse_number(struct imap_cur *c, uint32_t *v)
{
	uint64_t n = 0;
	const char *start = c->p;

	while (c->p < c->end && isdigit((unsigned char)*c->p)) {
		n = n * 10 + (uint64_t)(*c->p++ - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	if (c->p == start)
		return -1;
	*v = (uint32_t)n;
	return 0;
}

/*
 * imap_parse_string: a quoted string, a literal or NIL (nstring); *out spans the
 * contents (quoted: with its backslashes; NIL: p NULL). Returns 0 or -1.
 */
static int
imap_parse_string(struct imap_cur *c, struct imap_span *out)
{
	if (c->p >= c->end)
		return -1;
	if (*c->p == '"') {
		const char *s = ++c->p;

		while (c->p < c->end && *c->p != '"') {
			if (*c->p == '\\') {
				if (c->end - c->p < 2 || (c->p[1] != '"' && c->p[1] != '\\'))
					return -1;
				c->p++;
			} else if (*c->p == '\r' || *c->p == '\n')
				return -1;
			c->p++;
		}
		if (c->p >= c->end)
			return -1;
		*out = (struct imap_span){ s, (size_t)(c->p - s) };
		c->p++;
		return 0;
	}
	if (*c->p == '{') {
		uint64_t n = 0;
		const char *s = ++c->p;

		while (c->p < c->end && isdigit((unsigned char)*c->p)) {
			n = n * 10 + (uint64_t)(*c->p++ - '0');
			if (n > IMAP_LITERAL_MAX)
				return -1;
		}
		if (c->p == s)
			return -1;
		if (c->p < c->end && *c->p == '+')
			c->p++;
		if (c->p >= c->end || *c->p++ != '}')
			return -1;
		if (c->p < c->end && *c->p == '\r')
			c->p++;
		if (c->p >= c->end || *c->p++ != '\n')
			return -1;
		if ((uint64_t)(c->end - c->p) < n)
			return -1;
		*out = (struct imap_span){ n ? c->p : NULL, (size_t)n };
		c->p += n;
		return 0;
	}
	if (c->end - c->p >= 3 && strncasecmp(c->p, "NIL", 3) == 0 &&
	    (c->end - c->p == 3 || !imap_parse_atom_char((unsigned char)c->p[3]))) {
		c->p += 3;
		*out = (struct imap_span){ NULL, 0 };
		return 0;
	}
	return -1;
}

/*
 * imap_parse_skip: skip one value of any kind: string, literal, list (nested up to
 * IMAP_PARSE_DEPTH), or an atom-like word (numbers, NIL, flags like \Seen).
 */
static int
imap_parse_skip(struct imap_cur *c, int depth)
{
	struct imap_span s;

	if (c->p >= c->end || depth > IMAP_PARSE_DEPTH)
		return -1;
	if (*c->p == '"' || *c->p == '{')
		return imap_parse_string(c, &s);
	if (*c->p == '(') {
		c->p++;
		for (;;) {
			imap_parse_sp(c);
			if (c->p >= c->end)
				return -1;
			if (*c->p == ')') {
				c->p++;
				return 0;
			}
			if (imap_parse_skip(c, depth + 1) == -1)
				return -1;
		}
	}
	const char *s0 = c->p;
	while (c->p < c->end && (imap_parse_atom_char((unsigned char)*c->p) ||
	    *c->p == '\\' || *c->p == '*' || *c->p == '%' || *c->p == ']'))
		c->p++;
	return c->p == s0 ? -1 : 0;
}

/*
 * imap_parse_att_name: a FETCH attribute name: an atom, optionally "[section]" and
 * "<origin>". *whole is set when it names the whole message (BODY[], RFC822,
 * BINARY[]), with or without an origin.
 */
static int
imap_parse_att_name(struct imap_cur *c, char *name, size_t namelen, int *whole)
{
	size_t n = imap_parse_atom(c, name, namelen, 1);

	*whole = 0;
	if (n == 0)
		return -1;
	if (strcmp(name, "RFC822") == 0)
		*whole = 1;
	if (c->p < c->end && *c->p == '[') {
		const char *s = ++c->p;
		int depth = 0;

		while (c->p < c->end && (*c->p != ']' || depth > 0)) {
			if (*c->p == '(')
				depth++;
			else if (*c->p == ')')
				depth--;
			else if (*c->p == '\r' || *c->p == '\n')
				return -1;
			c->p++;
		}
		if (c->p >= c->end)
			return -1;
		*whole = c->p == s && (strcmp(name, "BODY") == 0 ||
		    strcmp(name, "BINARY") == 0);
		c->p++;
		if (c->p < c->end && *c->p == '<') {
			uint32_t origin;

			c->p++;
			if (imap_parse_number(c, &origin) == -1 || c->p >= c->end ||
			    *c->p++ != '>')
				return -1;
		}
	}
	return 0;
}

/* imap_parse_fetch: the msg-att list of a FETCH response: UID and the body. */
static int
imap_parse_fetch(struct imap_cur *c, struct imap_response *r)
{
	char name[IMAP_ATOM_MAX];
	int whole;

	if (c->p >= c->end || *c->p++ != '(')
		return -1;
	for (;;) {
		imap_parse_sp(c);
		if (c->p >= c->end)
			return -1;
		if (*c->p == ')') {
			c->p++;
			return 0;
		}
		if (imap_parse_att_name(c, name, sizeof(name), &whole) == -1)
			return -1;
		if (imap_parse_sp(c) == 0)
			return -1;
		if (strcmp(name, "UID") == 0) {
			if (imap_parse_number(c, &r->uid) == -1 || r->uid == 0)
				return -1;
		} else if (whole) {
			if (imap_parse_string(c, &r->body) == -1)
				return -1;
			r->has_body = 1;
		} else if (imap_parse_skip(c, 0) == -1)
			return -1;
	}
}

/* imap_parse_status_word: OK/NO/BAD/PREAUTH/BYE, or IMAP_ST_NONE. */
static enum imap_status
imap_parse_status_word(const char *w)
{
	for (size_t i = 1; i < sizeof(imap_parse_status_names) /
	    sizeof(imap_parse_status_names[0]); i++)
		if (strcmp(w, imap_parse_status_names[i]) == 0)
			return (enum imap_status)i;
	return IMAP_ST_NONE;
}

/* imap_parse_resp_text: ["[" code [SP args] "]" [SP]] text, to the end. */
static int
imap_parse_resp_text(struct imap_cur *c, struct imap_response *r)
{
	if (c->p < c->end && *c->p == '[') {
		c->p++;
		if (imap_parse_atom(c, r->code, sizeof(r->code), 0) == 0)
			return -1;
		imap_parse_sp(c);
		const char *s = c->p;
		while (c->p < c->end && *c->p != ']')
			c->p++;
		if (c->p >= c->end)
			return -1;
		if (c->p > s)
			r->code_arg = (struct imap_span){ s, (size_t)(c->p - s) };
		c->p++;
		imap_parse_sp(c);
	}
	if (c->p < c->end)
		r->text = (struct imap_span){ c->p, (size_t)(c->end - c->p) };
	c->p = c->end;
	return 0;
}

int
imap_parse_response(const char *buf, size_t len, struct imap_response *r)
{
	struct imap_cur c = { buf, buf + len };

	memset(r, 0, sizeof(*r));
	/* The final line end is not part of the response. */
	if (c.end > c.p && c.end[-1] == '\n')
		c.end--;
	if (c.end > c.p && c.end[-1] == '\r')
		c.end--;
	if (c.p >= c.end)
		return -1;

	if (*c.p == '+') {
		r->kind = IMAP_CONTINUE;
		c.p++;
		imap_parse_sp(&c);
		if (c.p < c.end)
			r->text = (struct imap_span){ c.p, (size_t)(c.end - c.p) };
		return 0;
	}
	if (*c.p == '*') {
		r->kind = IMAP_UNTAGGED;
		c.p++;
	} else {
		size_t n = 0;

		r->kind = IMAP_TAGGED;
		while (c.p < c.end && (imap_parse_atom_char((unsigned char)*c.p) ||
		    *c.p == ']') && *c.p != '+') {
			if (n + 1 >= sizeof(r->tag))
				return -1;
			r->tag[n++] = *c.p++;
		}
		r->tag[n] = '\0';
		if (n == 0)
			return -1;
	}
	if (imap_parse_sp(&c) != 1)
		return -1;

	if (r->kind == IMAP_UNTAGGED && c.p < c.end && isdigit((unsigned char)*c.p)) {
		if (imap_parse_number(&c, &r->number) == -1 || imap_parse_sp(&c) != 1)
			return -1;
		r->has_number = 1;
	}
	if (imap_parse_atom(&c, r->keyword, sizeof(r->keyword), 0) == 0)
		return -1;
	if (c.p < c.end && imap_parse_sp(&c) == 0)
		return -1;
	r->status = r->has_number ? IMAP_ST_NONE : imap_parse_status_word(r->keyword);
	if (c.p < c.end)
		r->rest = (struct imap_span){ c.p, (size_t)(c.end - c.p) };

	if (r->kind == IMAP_TAGGED) {
		/* RFC 3501 7.1: a tagged response is OK, NO or BAD. */
		if (r->status != IMAP_ST_OK && r->status != IMAP_ST_NO &&
		    r->status != IMAP_ST_BAD)
			return -1;
		return imap_parse_resp_text(&c, r);
	}
	if (r->status != IMAP_ST_NONE)
		return imap_parse_resp_text(&c, r);
	if (r->has_number && strcmp(r->keyword, "FETCH") == 0) {
		if (imap_parse_fetch(&c, r) == -1)
			return -1;
		imap_parse_sp(&c);
		return c.p == c.end ? 0 : -1;
	}
	return 0;
}

int
imap_parse_has_cap(const struct imap_span *caps, const char *cap)
{
	size_t n = strlen(cap), i = 0;

	while (i < caps->len) {
		size_t j = i;

		while (j < caps->len && caps->p[j] != ' ')
			j++;
		if (j - i == n && strncasecmp(caps->p + i, cap, n) == 0)
			return 1;
		i = j + 1;
	}
	return 0;
}
