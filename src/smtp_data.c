/*
 * smtp_data: the DATA reader between smtp_session and the queue. Fed the raw octets
 * that follow "354", it writes the message as it will be stored (CRLF lines, dots
 * unstuffed) and stops at CR LF "." CR LF. Anything that another MTA could read as a
 * different end of data (bare CR, bare LF, NUL: the SMTP smuggling class,
 * CVE-2023-51764) stops it with SMTP_DATA_BAD_EOL instead of being normalised.
 *
 * Every output decision is taken one input octet at a time from the state alone, so
 * chunk boundaries cannot change the result; runs of ordinary octets are found with
 * memchr and copied whole, because this is the relay's hot path.
 *
 * smtp_data_stuff is the outbound half: it dot-stuffs a stored message for upstream.
 */
#include <stddef.h>
#include <string.h>

#include "smtp_data.h"

/* Values of struct smtp_data.state. */
enum {
	SMTP_DATA_S_BOL,	/* at the start of a line */
	SMTP_DATA_S_TEXT,	/* inside a line */
	SMTP_DATA_S_CR,		/* after a CR: only LF may follow */
	SMTP_DATA_S_DOT,	/* after a "." that starts a line */
	SMTP_DATA_S_DOTCR,	/* after "." CR at a line start: LF ends the data */
	SMTP_DATA_S_DONE,	/* END or BAD_EOL returned: smtp_data_init first */
};

/* smtp_data_init: the state right after 354 (the DATA line's CRLF starts a line). */
void
smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof(*d));
	d->state = SMTP_DATA_S_BOL;
}

/* smtp_data_run: length of the leading run of p[0..n) free of CR, LF and NUL. */
static size_t
smtp_data_run(const char *p, size_t n)
{
	const char *x;
	size_t run;

	if ((x = memchr(p, '\r', n)) != NULL)
		n = (size_t)(x - p);
	run = n;
	if ((x = memchr(p, '\n', run)) != NULL)
		run = (size_t)(x - p);
	if ((x = memchr(p, '\0', run)) != NULL)
		run = (size_t)(x - p);
	return run;
}

/* smtp_data_has8bit: does p[0..n) hold an octet >= 0x80? */
static int
smtp_data_has8bit(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned char acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= u[i];
	return (acc & 0x80) != 0;
}

/* smtp_data_count: add k octets to the current line and note an over-long one. */
static void
smtp_data_count(struct smtp_data *d, size_t k)
{
	d->linelen += k;
	if (d->linelen > SMTP_DATA_LINE_MAX)
		d->long_line = 1;
}

/*
 * smtp_data_feed: consume in[0..n) and write message octets to out (see smtp_data.h).
 * On SMTP_DATA_BAD_EOL, *used counts the octets before the one that proved the line
 * end bad (for "a" CR "b" that is the "b": a CR alone at the end of a chunk is not yet
 * an error), and out holds what was accepted up to there.
 */
enum smtp_data_status
smtp_data_feed(struct smtp_data *d, const char *in, size_t n, char *out,
    size_t *outlen, size_t *used)
{
	const char *p = in, *end = in + n;
	char *o = out;
	enum smtp_data_status st = SMTP_DATA_MORE;
	size_t run;
	unsigned char c;

	if (d->state == SMTP_DATA_S_DONE) {
		st = SMTP_DATA_BAD_EOL;
		goto done;
	}
	while (p < end) {
		c = (unsigned char)*p;
		switch (d->state) {
		case SMTP_DATA_S_BOL:
			if (c == '.') {
				/* Not counted: the line limit excludes the transparency
				 * dot (RFC 5321 4.5.3.1.6). */
				d->state = SMTP_DATA_S_DOT;
				p++;
				break;
			}
			/* FALLTHROUGH */
		case SMTP_DATA_S_TEXT:
			if (c == '\r') {
				*o++ = '\r';
				smtp_data_count(d, 1);
				d->state = SMTP_DATA_S_CR;
				p++;
				break;
			}
			if (c == '\n' || c == '\0')
				goto bad;
			run = smtp_data_run(p, (size_t)(end - p));
			if (!d->eightbit && smtp_data_has8bit(p, run))
				d->eightbit = 1;
			memcpy(o, p, run);
			o += run;
			p += run;
			smtp_data_count(d, run);
			d->state = SMTP_DATA_S_TEXT;
			break;
		case SMTP_DATA_S_CR:
			if (c != '\n')
				goto bad;
			*o++ = '\n';
			smtp_data_count(d, 1);
			d->linelen = 0;
			d->state = SMTP_DATA_S_BOL;
			p++;
			break;
		case SMTP_DATA_S_DOT:
			if (c == '\r') {
				smtp_data_count(d, 1);
				d->state = SMTP_DATA_S_DOTCR;
				p++;
				break;
			}
			if (c == '\n' || c == '\0')
				goto bad;
			/*
			 * ".." is a stuffed ".", and ".x" loses its dot too: RFC 5321
			 * 4.5.2 deletes the first "." of any line with more on it. The
			 * octet itself is ordinary text, handled without consuming here.
			 */
			d->state = SMTP_DATA_S_TEXT;
			break;
		case SMTP_DATA_S_DOTCR:
			if (c != '\n')
				goto bad;
			p++;
			d->linelen = 0;
			d->state = SMTP_DATA_S_DONE;
			st = SMTP_DATA_END;
			goto done;
		default:
			goto bad;
		}
	}
	goto done;
bad:
	d->state = SMTP_DATA_S_DONE;
	st = SMTP_DATA_BAD_EOL;
done:
	*outlen = (size_t)(o - out);
	*used = (size_t)(p - in);
	d->total += *outlen;
	return st;
}

/* smtp_data_stuff: copy in to out doubling each "." that starts a line. */
size_t
smtp_data_stuff(const char *in, size_t n, char *out, int *bol)
{
	const char *p = in, *end = in + n, *nl;
	char *o = out;
	size_t k;

	while (p < end) {
		if (*bol && *p == '.')
			*o++ = '.';
		nl = memchr(p, '\n', (size_t)(end - p));
		k = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		memcpy(o, p, k);
		o += k;
		p += k;
		*bol = nl != NULL;
	}
	return (size_t)(o - out);
}
