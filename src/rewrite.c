/*
 * rewrite: the header changes made to a queued message just before upstream_session
 * sends it, because providers refuse mail whose From: is not the logged-in account.
 * rewrite_scan measures the header block and notes Message-ID and the From: address
 * (for logs and for the Reply-To); rewrite_headers builds the new header block: From:
 * gets the account address under the original display name, the app's address moves
 * to Reply-To:, Sender: and Return-Path: go, a Message-ID: is added when missing.
 * Every other octet is copied as it was, folded lines included.
 *
 * Header fields follow RFC 5322 2.2: a name of printable ASCII but ":", optional
 * WSP (obs-optional, 4.5), ":", and a body continued on lines that start with WSP.
 * Lines end at LF; the DATA reader has already refused bare CR and LF.
 */
#include <stddef.h>
#include <string.h>

#include "rewrite.h"
#include "xmalloc.h"

/* One header field, or one line that is not part of one. */
struct rewrite_field {
	const char	*start;		/* first octet of the field */
	const char	*end;		/* past its last line ending (or hdr's end) */
	const char	*name;		/* NULL: a line that is not a field */
	size_t		 namelen;
	const char	*val, *valend;	/* after ":", up to the last line ending */
	int		 terminated;	/* the last line ends with LF */
};

/* What the first From: mailbox looks like (pointers into its field). */
struct rewrite_from {
	const char	*addr;		/* addr-spec as written */
	size_t		 addrlen;
	const char	*disp;		/* display name as written, NULL if none */
	size_t		 displen;
	int		 disp_comment;	/* disp is a comment's text, not a phrase */
};

/* The output block under construction. */
struct rewrite_buf {
	char		*p;
	size_t		 len, cap;
};

static int
rewrite_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* rewrite_caseeq: do a[0..n) and the string b match, ignoring ASCII case? */
static int
rewrite_caseeq(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] == '\0' || rewrite_lower((unsigned char)a[i]) !=
		    rewrite_lower((unsigned char)b[i]))
			return 0;
	return b[n] == '\0';
}

static int
rewrite_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* rewrite_atext: RFC 5322 3.2.3 atext, with UTF-8 octets (RFC 6532 3.2). */
static int
rewrite_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * rewrite_field_next: read the field (or non-field line) at p, up to end. A line
 * starting with WSP where no field is open is returned as a non-field line.
 */
static void
rewrite_field_next(const char *p, const char *end, struct rewrite_field *f)
{
	const char *q, *nl;

	memset(f, 0, sizeof(*f));
	f->start = p;
	/* the name: ftext (RFC 5322 3.6.8), then WSP, then ":" */
	for (q = p; q < end && *q > 32 && *q < 127 && *q != ':'; q++)
		;
	if (q > p) {
		f->namelen = (size_t)(q - p);
		while (q < end && rewrite_wsp(*q))
			q++;
		if (q < end && *q == ':') {
			f->name = p;
			f->val = q + 1;
		}
	}
	/* the first line, then the continuation lines of a field */
	for (;;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			f->valend = f->end = end;
			break;
		}
		f->terminated = 1;
		f->end = nl + 1;
		f->valend = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
		if (f->name == NULL || f->end >= end || !rewrite_wsp(*f->end))
			break;
		f->terminated = 0;
		p = f->end;
	}
	if (f->name == NULL) {
		f->namelen = 0;
		f->val = f->valend = NULL;
	} else if (f->valend < f->val)
		f->valend = f->val;
}

/*
 * rewrite_maybe_field: could the unfinished line p[0..end) still turn out to be a
 * field (so far ftext, perhaps followed by WSP) or the empty line (a CR)?
 */
static int
rewrite_maybe_field(const char *p, const char *end)
{
	const char *q;

	if (end - p == 1 && *p == '\r')
		return 1;		/* or the empty line's CR */
	for (q = p; q < end && *q > 32 && *q < 127 && *q != ':'; q++)
		;
	if (q == p)
		return 0;
	while (q < end && rewrite_wsp(*q))
		q++;
	return q == end;
}

/* rewrite_empty_line: is the line at p, up to end, an empty line (CRLF or LF)? */
static int
rewrite_empty_line(const char *p, const char *end, size_t *len)
{
	if (p < end && *p == '\n') {
		*len = 1;
		return 1;
	}
	if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
		*len = 2;
		return 1;
	}
	return 0;
}

/* rewrite_cfws: skip CFWS (RFC 5322 3.2.2); note the first comment's text. NULL: bad. */
static const char *
rewrite_cfws(const char *p, const char *end, const char **com, size_t *comlen)
{
	const char *s;
	int depth;

	for (;;) {
		while (p < end && (rewrite_wsp(*p) || *p == '\r' || *p == '\n'))
			p++;
		if (p >= end || *p != '(')
			return p;
		s = ++p;
		for (depth = 1; p < end && depth > 0; p++) {
			if (*p == '\\') {
				if (++p >= end)
					return NULL;
			} else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
		}
		if (depth > 0)
			return NULL;
		if (com != NULL && *com == NULL) {
			*com = s;
			*comlen = (size_t)(p - 1 - s);
		}
	}
}

/* rewrite_quoted: past the quoted-string at p, or NULL. */
static const char *
rewrite_quoted(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++)
		if (*p == '\\' && ++p >= end)
			return NULL;
	return p < end ? p + 1 : NULL;
}

/* rewrite_dotatom: past the dot-atom at p, or NULL. */
static const char *
rewrite_dotatom(const char *p, const char *end)
{
	const char *s;

	for (;;) {
		for (s = p; p < end && rewrite_atext((unsigned char)*p); p++)
			;
		if (p == s)
			return NULL;
		if (p >= end || *p != '.')
			return p;
		p++;
	}
}

/*
 * rewrite_addrspec: past the addr-spec (RFC 5322 3.4.1) at p, or NULL. A quoted
 * local part holding control octets (a fold, say) is refused: the address goes to
 * logs and into Reply-To.
 */
static const char *
rewrite_addrspec(const char *p, const char *end)
{
	const char *s = p;
	int c;

	if (p < end && *p == '"') {
		if ((p = rewrite_quoted(p, end)) == NULL)
			return NULL;
		for (; s < p; s++)
			if ((unsigned char)*s < 32 || *s == 127)
				return NULL;
	} else
		p = rewrite_dotatom(p, end);
	if (p == NULL || p >= end || *p != '@')
		return NULL;
	if (++p < end && *p == '[') {
		for (p++; p < end && *p != ']'; p++)
			if ((c = (unsigned char)*p) < 33 || c > 126 || c == '[' ||
			    c == '\\')
				return NULL;
		return p < end ? p + 1 : NULL;
	}
	return rewrite_dotatom(p, end);
}

/*
 * rewrite_from_parse: find the first mailbox of a From: body v[0..n): either
 * [phrase] "<" addr-spec ">" or addr-spec [comment], followed by the end or ",".
 * Returns 0, or -1 for a group or anything else (the caller then replaces it whole).
 */
static int
rewrite_from_parse(const char *v, size_t n, struct rewrite_from *f)
{
	const char *end = v + n, *p, *q, *start, *ph = NULL, *phend = NULL;
	const char *com = NULL, *tcom = NULL;
	size_t i, comlen = 0, tcomlen = 0;

	memset(f, 0, sizeof(*f));
	/* every line break must be a fold: CRLF then WSP */
	for (i = 0; i < n; i++) {
		if (v[i] == '\0')
			return -1;
		if (v[i] == '\r' && (i + 1 >= n || v[i + 1] != '\n'))
			return -1;
		if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r' || i + 1 >= n ||
		    !rewrite_wsp(v[i + 1])))
			return -1;
	}
	if ((p = rewrite_cfws(v, end, &com, &comlen)) == NULL)
		return -1;
	start = p;

	/* name-addr; the phrase may hold "." (obs-phrase, RFC 5322 4.1) */
	while (p < end && (*p == '"' || *p == '.' ||
	    rewrite_atext((unsigned char)*p))) {
		if (*p == '"')
			q = rewrite_quoted(p, end);
		else
			for (q = p; q < end && (*q == '.' ||
			    rewrite_atext((unsigned char)*q)); q++)
				;
		if (q == NULL)
			return -1;
		if (ph == NULL)
			ph = p;
		phend = q;
		if ((p = rewrite_cfws(q, end, NULL, NULL)) == NULL)
			return -1;
	}
	if (p < end && *p == '<') {
		if ((p = rewrite_cfws(p + 1, end, NULL, NULL)) == NULL ||
		    (q = rewrite_addrspec(p, end)) == NULL)
			return -1;
		f->addr = p;
		f->addrlen = (size_t)(q - p);
		if ((p = rewrite_cfws(q, end, NULL, NULL)) == NULL || p >= end ||
		    *p != '>')
			return -1;
		if ((p = rewrite_cfws(p + 1, end, NULL, NULL)) == NULL ||
		    (p < end && *p != ','))
			return -1;
		if (ph != NULL) {
			f->disp = ph;
			f->displen = (size_t)(phend - ph);
		}
		return 0;
	}

	/* addr-spec, its name in a comment before or after it */
	if ((q = rewrite_addrspec(start, end)) == NULL)
		return -1;
	f->addr = start;
	f->addrlen = (size_t)(q - start);
	if ((p = rewrite_cfws(q, end, &tcom, &tcomlen)) == NULL ||
	    (p < end && *p != ','))
		return -1;
	if (tcom != NULL) {
		com = tcom;
		comlen = tcomlen;
	}
	while (comlen > 0 && (rewrite_wsp(*com) || *com == '\r' || *com == '\n')) {
		com++;
		comlen--;
	}
	while (comlen > 0 && (rewrite_wsp(com[comlen - 1]) ||
	    com[comlen - 1] == '\r' || com[comlen - 1] == '\n'))
		comlen--;
	if (comlen > 0) {
		f->disp = com;
		f->displen = comlen;
		f->disp_comment = 1;
	}
	return 0;
}

/* rewrite_msgid: the Message-ID in v[0..n), unfolded, "<...>" when present. */
static void
rewrite_msgid(const char *v, size_t n, char out[256])
{
	size_t i, k = 0, s, e;
	char tmp[256];

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
			continue;
		if (k >= sizeof(tmp) - 1)
			return;			/* too long: "" */
		tmp[k++] = v[i];
	}
	for (s = 0; s < k && rewrite_wsp(tmp[s]); s++)
		;
	for (e = k; e > s && rewrite_wsp(tmp[e - 1]); e--)
		;
	for (i = s; i < e && tmp[i] != '<'; i++)
		;
	for (k = i; k < e && tmp[k] != '>'; k++)
		;
	if (k < e) {
		s = i;
		e = k + 1;
	}
	memcpy(out, tmp + s, e - s);
	out[e - s] = '\0';
}

/* rewrite_scan: find the header block's end, its Message-ID and From: address. */
int
rewrite_scan(const char *buf, size_t len, struct rewrite_info *ri)
{
	const char *p = buf, *end = buf + len;
	struct rewrite_field f;
	struct rewrite_from fr;
	int seen_from = 0, seen_msgid = 0;
	size_t el;

	memset(ri, 0, sizeof(*ri));
	while (p < end) {
		if (rewrite_empty_line(p, end, &el)) {
			ri->header_len = (size_t)(p + el - buf);
			ri->complete = 1;
			return 0;
		}
		rewrite_field_next(p, end, &f);
		if ((!f.terminated && (f.name != NULL ||
		    rewrite_maybe_field(p, end))) ||
		    (f.end == end && f.name != NULL)) {
			/* the field may go on (or be a field) in what is not read yet */
			break;
		}
		if (f.name == NULL) {
			/* not a field: the header block ends here (perhaps empty) */
			ri->header_len = (size_t)(p - buf);
			ri->complete = 1;
			return 0;
		}
		if (!seen_from && rewrite_caseeq(f.name, f.namelen, "from")) {
			seen_from = 1;
			if (rewrite_from_parse(f.val, (size_t)(f.valend - f.val),
			    &fr) == 0 && fr.addrlen < sizeof(ri->from_addr)) {
				memcpy(ri->from_addr, fr.addr, fr.addrlen);
				ri->from_addr[fr.addrlen] = '\0';
			}
		} else if (!seen_msgid && rewrite_caseeq(f.name, f.namelen,
		    "message-id")) {
			seen_msgid = 1;
			rewrite_msgid(f.val, (size_t)(f.valend - f.val),
			    ri->message_id);
		}
		p = f.end;
	}
	/* the empty line is not in buf yet */
	ri->header_len = len;
	ri->complete = 0;
	return 0;
}

static void
rewrite_put(struct rewrite_buf *b, const char *s, size_t n)
{
	if (b->cap - b->len < n) {
		while (b->cap - b->len < n)
			b->cap = b->cap * 2 + 64;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
rewrite_puts(struct rewrite_buf *b, const char *s)
{
	rewrite_put(b, s, strlen(s));
}

/* rewrite_put_addr: "<addr>", adding the brackets when the caller gave none. */
static void
rewrite_put_addr(struct rewrite_buf *b, const char *a)
{
	size_t n = strlen(a);

	if (n >= 2 && a[0] == '<' && a[n - 1] == '>')
		rewrite_put(b, a, n);
	else {
		rewrite_puts(b, "<");
		rewrite_put(b, a, n);
		rewrite_puts(b, ">");
	}
}

/*
 * rewrite_put_comment_name: a comment's text as a display name: as it is when it
 * is only atext and spaces, else as a quoted-string (quoted-pairs stay valid).
 */
static void
rewrite_put_comment_name(struct rewrite_buf *b, const char *s, size_t n)
{
	size_t i;
	int plain = 1;

	for (i = 0; i < n && plain; i++)
		if (!rewrite_atext((unsigned char)s[i]) && !rewrite_wsp(s[i]))
			plain = 0;
	if (plain) {
		rewrite_put(b, s, n);
		return;
	}
	rewrite_puts(b, "\"");
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			rewrite_put(b, s + i, 2);
			i++;
		} else if (s[i] == '"' || s[i] == '\\')
			rewrite_puts(b, s[i] == '"' ? "\\\"" : "\\\\");
		else
			rewrite_put(b, s + i, 1);
	}
	rewrite_puts(b, "\"");
}

/* rewrite_addr_ok: may a (from a parser) go into a header as "<a>"? */
static int
rewrite_addr_ok(const char *a)
{
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 32 || *a == 127)
			return 0;
	return 1;
}

/* rewrite_headers: the new header block for one send (see rewrite.h). */
int
rewrite_headers(const char *hdr, size_t hdrlen, const char *account_addr,
    const char *env_sender, const char *message_id, char **out, size_t *outlen)
{
	const char *p = hdr, *end = hdr + hdrlen;
	struct rewrite_buf b = { NULL, 0, 0 };
	struct rewrite_field f;
	struct rewrite_from fr;
	char app[256];
	int seen_from = 0, seen_replyto = 0, seen_msgid = 0;
	size_t el;

	app[0] = '\0';
	b.cap = hdrlen + strlen(account_addr) + 256;
	b.p = xmalloc(b.cap);
	while (p < end && !rewrite_empty_line(p, end, &el)) {
		rewrite_field_next(p, end, &f);
		p = f.end;
		if (f.name == NULL) {
			rewrite_put(&b, f.start, (size_t)(f.end - f.start));
		} else if (rewrite_caseeq(f.name, f.namelen, "from")) {
			if (seen_from++)
				continue;	/* one From: only; the first decides */
			rewrite_puts(&b, "From: ");
			if (rewrite_from_parse(f.val, (size_t)(f.valend - f.val),
			    &fr) == 0) {
				if (fr.addrlen < sizeof(app)) {
					memcpy(app, fr.addr, fr.addrlen);
					app[fr.addrlen] = '\0';
				}
				if (fr.disp_comment) {
					rewrite_put_comment_name(&b, fr.disp,
					    fr.displen);
					rewrite_puts(&b, " ");
				} else if (fr.disp != NULL) {
					rewrite_put(&b, fr.disp, fr.displen);
					rewrite_puts(&b, " ");
				}
			}
			rewrite_put_addr(&b, account_addr);
			rewrite_puts(&b, "\r\n");
			continue;
		} else if (rewrite_caseeq(f.name, f.namelen, "sender") ||
		    rewrite_caseeq(f.name, f.namelen, "return-path")) {
			continue;
		} else {
			if (rewrite_caseeq(f.name, f.namelen, "reply-to"))
				seen_replyto = 1;
			else if (rewrite_caseeq(f.name, f.namelen, "message-id"))
				seen_msgid = 1;
			rewrite_put(&b, f.start, (size_t)(f.end - f.start));
		}
		if (!f.terminated)
			rewrite_puts(&b, "\r\n");
	}

	if (!seen_from) {
		rewrite_puts(&b, "From: ");
		rewrite_put_addr(&b, account_addr);
		rewrite_puts(&b, "\r\n");
	}
	if (app[0] == '\0' && env_sender != NULL && strlen(env_sender) < sizeof(app))
		memcpy(app, env_sender, strlen(env_sender) + 1);
	if (!seen_replyto && app[0] != '\0' && rewrite_addr_ok(app) &&
	    !rewrite_caseeq(app, strlen(app), account_addr)) {
		rewrite_puts(&b, "Reply-To: ");
		rewrite_put_addr(&b, app);
		rewrite_puts(&b, "\r\n");
	}
	if (!seen_msgid && message_id != NULL && message_id[0] != '\0' &&
	    rewrite_addr_ok(message_id)) {
		rewrite_puts(&b, "Message-ID: ");
		rewrite_put_addr(&b, message_id);
		rewrite_puts(&b, "\r\n");
	}
	rewrite_puts(&b, "\r\n");
	*out = b.p;
	*outlen = b.len;
	return 0;
}
