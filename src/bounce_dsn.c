/*
 * bounce_dsn: the fields of an RFC 3464 delivery status report, read line by line.
 * bounce_parse hands it the contents of a message/delivery-status part (or a notice
 * that carries the fields inline) and turns each block into a recipient; what the
 * status and the words mean is bounce_status's part. Pure: no I/O.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_dsn.h"
#include "xmalloc.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* Address types glued to an address ("smtp=a@b" from Exchange, "SMTP:a@b"). */
static const char *const bounce_dsn_glued[] = {
	"smtp=", "rfc822=", "x400=", "smtp:", "rfc822:",
};

const char *
bounce_dsn_value(const char *v)
{
	const char *p = v;

	while (*p == ' ' || *p == '\t')
		p++;
	const char *t = p;
	while (isalnum((unsigned char)*p) || *p == '-')
		p++;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == ';' && p > t && p - t < 16 ? p + 1 : v;
}

/* bounce_dsn_trim: s[0..*n) without white space, quotes and punctuation around it. */
static const char *
bounce_dsn_trim(const char *s, size_t *n)
{
	size_t len = *n;

	while (len > 0 && (isspace((unsigned char)*s) || *s == '"' || *s == '\''))
		s++, len--;
	while (len > 0 && (isspace((unsigned char)s[len - 1]) || s[len - 1] == '"' ||
	    s[len - 1] == '\'' || s[len - 1] == ',' || s[len - 1] == ';' ||
	    s[len - 1] == '.' || s[len - 1] == ':'))
		len--;
	*n = len;
	return s;
}

char *
bounce_dsn_addr(const char *v)
{
	size_t	 len = strlen(v), o = 0;
	char	*buf = xmalloc(len + 1), *out = NULL;
	int	 depth = 0;

	/* The address type goes, and so do (comments), nested or not. */
	v = bounce_dsn_value(v);
	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0)
			buf[o++] = *p;
	}
	buf[o] = '\0';

	const char *s = buf, *lt = strchr(buf, '<'), *gt;
	size_t n = o;
	if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
		s = lt + 1;
		n = gt - s;
	}
	s = bounce_dsn_trim(s, &n);
	/* Of several words, the one with the '@'. */
	const char *at = memchr(s, '@', n);
	if (at == NULL)
		goto done;
	const char *ws = at, *we = at;
	while (ws > s && !isspace((unsigned char)ws[-1]))
		ws--;
	while (we < s + n && !isspace((unsigned char)*we))
		we++;
	n = we - ws;
	s = bounce_dsn_trim(ws, &n);
	while (n > 0 && *s == '<')
		s++, n--;
	while (n > 0 && s[n - 1] == '>')
		n--;
	for (size_t i = 0; i < nitems(bounce_dsn_glued); i++) {
		size_t k = strlen(bounce_dsn_glued[i]);
		if (n > k && strncasecmp(s, bounce_dsn_glued[i], k) == 0) {
			s += k;
			n -= k;
			break;
		}
	}
	/* The last '@' splits: a quoted local part may hold one. */
	at = NULL;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '@')
			at = s + i;
	if (at == NULL || at == s || at + 1 >= s + n)
		goto done;
	size_t dl = s + n - at - 1;
	if (at[1] != '[' && (memchr(at + 1, '.', dl) == NULL || at[1] == '.' ||
	    s[n - 1] == '.'))
		goto done;
	out = xmalloc(n + 1);
	memcpy(out, s, n);
	out[n] = '\0';
	for (char *d = out + (at - s) + 1; *d; d++)
		*d = tolower((unsigned char)*d);
done:
	free(buf);
	return out;
}

/* bounce_dsn_block_clear: free one block's fields and zero it. */
static void
bounce_dsn_block_clear(struct bounce_dsn_rcpt *d)
{
	free(d->final);
	free(d->original);
	free(d->action);
	free(d->status);
	free(d->diag);
	memset(d, 0, sizeof(*d));
}

/* bounce_dsn_block_end: keep the block d (if it names a recipient), start a new one. */
static void
bounce_dsn_block_end(struct bounce_dsn_rcpt *d, struct bounce_dsn_rcpt **out, size_t *n)
{
	if ((d->final == NULL && d->original == NULL) || *n >= BOUNCE_DSN_MAX) {
		bounce_dsn_block_clear(d);
		return;
	}
	*out = xreallocarray(*out, *n + 1, sizeof(**out));
	(*out)[(*n)++] = *d;
	memset(d, 0, sizeof(*d));
}

size_t
bounce_dsn_parse(const char *s, struct bounce_dsn_rcpt **out)
{
	struct bounce_dsn_rcpt d = { 0 };
	char	*copy = xstrdup(s), *p = copy;
	size_t	 n = 0;

	*out = NULL;
	while (p != NULL && *p != '\0') {
		char *eol = strchr(p, '\n'), *next = eol ? eol + 1 : NULL;
		if (eol)
			*eol = '\0';
		/* Unfold continuation lines into this one. */
		while (next != NULL && (*next == ' ' || *next == '\t')) {
			*eol = ' ';
			eol = strchr(next, '\n');
			next = eol ? eol + 1 : NULL;
			if (eol)
				*eol = '\0';
		}
		size_t len = strlen(p);
		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' ' ||
		    p[len - 1] == '\t'))
			p[--len] = '\0';
		for (char *q = p; *q; q++)
			if (*q == '\r')
				*q = ' ';
		char *colon = strchr(p, ':');
		if (len == 0) {
			bounce_dsn_block_end(&d, out, &n);
		} else if (colon != NULL) {
			char **slot = NULL;
			*colon = '\0';
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			if (strcasecmp(p, "Final-Recipient") == 0) {
				if (d.final != NULL)
					bounce_dsn_block_end(&d, out, &n);
				slot = &d.final;
			} else if (strcasecmp(p, "Original-Recipient") == 0) {
				if (d.original != NULL || (d.final != NULL && d.status != NULL))
					bounce_dsn_block_end(&d, out, &n);
				slot = &d.original;
			} else if (strcasecmp(p, "Action") == 0)
				slot = &d.action;
			else if (strcasecmp(p, "Status") == 0)
				slot = &d.status;
			else if (strcasecmp(p, "Diagnostic-Code") == 0)
				slot = &d.diag;
			if (slot != NULL && *slot == NULL)
				*slot = xstrdup(v);
		}
		p = next;
	}
	bounce_dsn_block_end(&d, out, &n);
	free(copy);
	return n;
}

void
bounce_dsn_free(struct bounce_dsn_rcpt *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		bounce_dsn_block_clear(&r[i]);
	free(r);
}
