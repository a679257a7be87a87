/*
 * dsn: builds the RFC 3464 delivery status reports relayd mails to events.dsn_to
 * (contract in dsn.h). Pure: facts in, text out; unit-tested (tests/unit/test_dsn.c)
 * and fuzzed (tests/fuzz/fuzz_dsn.c).
 *
 * What reaches the report from outside (provider replies, addresses, the original's
 * header) is cleaned first: no control character, no line over 998 octets (RFC 5322
 * 2.1.1), so a hostile reply cannot add a header field or a MIME boundary.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dsn.h"
#include "xmalloc.h"

#define DSN_VALUE_MAX	900	/* octets of one cleaned value */
#define DSN_LINE_MAX	998	/* RFC 5322 2.1.1 */

/* dsn_clean: s as one line: control characters become spaces, cut at max octets. */
static char *
dsn_clean(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	char *o = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++)
		o[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	o[n] = '\0';
	return o;
}

/* dsn_clean_addr: an address without <>, white space or control characters. */
static char *
dsn_clean_addr(const char *s)
{
	char *o = dsn_clean(s, 320), *w = o;

	for (char *r = o; *r; r++)
		if (!isspace((unsigned char)*r) && *r != '<' && *r != '>')
			*w++ = *r;
	*w = '\0';
	return o;
}

/* dsn_clean_host: a host name: letters, digits, dots and hyphens only. */
static char *
dsn_clean_host(const char *s)
{
	char *o = dsn_clean(s ? s : "", 255), *w = o;

	for (char *r = o; *r; r++)
		if (isalnum((unsigned char)*r) || *r == '.' || *r == '-')
			*w++ = *r;
	*w = '\0';
	if (*o == '\0') {
		free(o);
		o = xstrdup("localhost");
	}
	return o;
}

/* dsn_hash: FNV-1a of a string (NULL counts as ""). */
static uint64_t
dsn_hash(uint64_t h, const char *s)
{
	for (; s != NULL && *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* dsn_date: t as an RFC 5322 date in UTC, whatever the locale. */
static void
dsn_date(time_t t, char out[40])
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	    tm.tm_mday, mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

void
dsn_status(const char *reply, char out[16])
{
	const char *p = reply ? reply : "";

	strcpy(out, "5.0.0");
	if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-' || p[3] == '\0')) {
		if (p[0] == '4')
			strcpy(out, "4.0.0");
		p += 3;
		while (*p == ' ' || *p == '-')
			p++;
		/* class.subject.detail: 1 digit, 1-3 digits, 1-3 digits (RFC 3463 3.1) */
		size_t a = 0, b = 0, c = 0;
		if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.') {
			while (isdigit((unsigned char)p[2 + a]) && a < 4)
				a++;
			if (a >= 1 && a <= 3 && p[2 + a] == '.') {
				while (isdigit((unsigned char)p[3 + a + b]) && b < 4)
					b++;
				c = 3 + a + b;
				if (b >= 1 && b <= 3 && !isalnum((unsigned char)p[c]) &&
				    p[c] != '.')
					snprintf(out, 16, "%.*s", (int)c, p);
			}
		}
	}
}

char *
dsn_message_id(const char *hostname, const char *queue_id, const char *recipient)
{
	char *host = dsn_clean_host(hostname), *qid = dsn_clean_host(queue_id ? queue_id :
	    "0"), *id;
	uint64_t h = dsn_hash(dsn_hash(0xcbf29ce484222325ULL, queue_id), "\t");

	h = dsn_hash(h, recipient);
	id = xasprintf("<" DSN_MSGID_PREFIX "%s.%016llx@%s>", qid, (unsigned long long)h,
	    host);
	free(host);
	free(qid);
	return id;
}

int
dsn_is_own(const char *message_id)
{
	if (message_id == NULL)
		return 0;
	if (*message_id == '<')
		message_id++;
	return strncasecmp(message_id, DSN_MSGID_PREFIX, strlen(DSN_MSGID_PREFIX)) == 0;
}

/* dsn_field_is: the field at p (its name, up to the colon) is name; *val its value. */
static int
dsn_field_is(const char *p, const char *end, const char *name, const char **val)
{
	size_t n = strlen(name);

	if ((size_t)(end - p) <= n || strncasecmp(p, name, n) != 0)
		return 0;
	p += n;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p != ':')
		return 0;
	p++;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	*val = p;
	return 1;
}

int
dsn_is_report(const char *hdr, size_t len)
{
	const char *p = hdr, *end = hdr + len;

	while (p < end) {
		const char *f = p, *v, *fe;

		if (*p == '\r' || *p == '\n')
			break;		/* the empty line: the header ends */
		/* The field runs to the end of its last continuation line. */
		fe = p;
		for (;;) {
			const char *nl = memchr(fe, '\n', (size_t)(end - fe));

			fe = nl ? nl + 1 : end;
			if (fe >= end || (*fe != ' ' && *fe != '\t'))
				break;
		}
		p = fe;
		if (dsn_field_is(f, fe, "X-Relayd-Report", &v))
			return 1;
		if (dsn_field_is(f, fe, "Content-Type", &v) && (size_t)(fe - v) >= 16 &&
		    strncasecmp(v, "multipart/report", 16) == 0)
			return 1;
		if (dsn_field_is(f, fe, "Auto-Submitted", &v)) {
			size_t n = 0;

			while (v + n < fe && (isalnum((unsigned char)v[n]) || v[n] == '-'))
				n++;
			if (!(n == 2 && strncasecmp(v, "no", 2) == 0) && n > 0)
				return 1;
		}
	}
	return 0;
}

/* dsn_headers_part: the original's header block as CRLF lines, without its empty line. */
static void
dsn_headers_part(FILE *b, const char *hdr, size_t len)
{
	const char *p = hdr, *end = hdr + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n;

		if (le > p && le[-1] == '\r')
			le--;
		if (le == p)
			break;		/* the empty line */
		n = (size_t)(le - p) < DSN_LINE_MAX ? (size_t)(le - p) : DSN_LINE_MAX;
		for (size_t i = 0; i < n; i++)
			putc((unsigned char)p[i] < 0x20 && p[i] != '\t' ? ' ' : p[i], b);
		fputs("\r\n", b);
		p = nl ? nl + 1 : end;
	}
}

/* dsn_remote_host: the host name of "host[addr]:port" (a new string), or NULL. */
static char *
dsn_remote_host(const char *relay)
{
	size_t n;

	if (relay == NULL || *relay == '\0' || strcmp(relay, "none") == 0)
		return NULL;
	n = strcspn(relay, "[: ");
	if (n == 0)
		return NULL;
	char *h = xstrndup(relay, n), *c = dsn_clean_host(h);

	free(h);
	return c;
}

char *
dsn_build(const struct dsn_facts *f, size_t *len, size_t *header_len)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *b = open_memstream(&out, &outlen);
	char *host = dsn_clean_host(f->hostname), *to = dsn_clean_addr(f->to);
	char *rcpt = dsn_clean_addr(f->recipient), *qid = dsn_clean_addr(f->queue_id ?
	    f->queue_id : "");
	char *reply = dsn_clean(f->reply ? f->reply : "", DSN_VALUE_MAX);
	char *why = dsn_clean(f->why ? f->why : "delivery failed", 200);
	char *omid = dsn_clean_addr(f->message_id ? f->message_id : "");
	char *mid = dsn_message_id(f->hostname, f->queue_id, f->recipient);
	char *remote = dsn_remote_host(f->remote_mta), *boundary;
	char status[16], date[40], arrival[40];
	uint64_t h = dsn_hash(0xcbf29ce484222325ULL, mid);

	if (b == NULL)
		abort();	/* out of memory, as the x* wrappers would */
	if (f->status != NULL && *f->status != '\0') {
		char tmp[DSN_VALUE_MAX + 8];

		snprintf(tmp, sizeof(tmp), "550 %s", f->status);	/* checked as a reply's */
		dsn_status(tmp, status);
	} else
		dsn_status(reply, status);
	dsn_date(f->now, date);
	dsn_date(f->arrival, arrival);
	/* A boundary that is not in the original's header (which is copied as it is). */
	for (int i = 0; ; i++) {
		boundary = xasprintf("=_relayd-dsn-%016llx-%d", (unsigned long long)h, i);
		if (f->headers == NULL || memmem(f->headers, f->headers_len, boundary,
		    strlen(boundary)) == NULL)
			break;
		free(boundary);
	}

	fprintf(b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host);
	fprintf(b, "To: <%s>\r\n", to);
	fprintf(b, "Subject: Undelivered Mail Returned to Sender: %s\r\n", rcpt);
	fprintf(b, "Date: %s\r\n", date);
	fprintf(b, "Message-ID: %s\r\n", mid);
	fputs("Auto-Submitted: auto-replied\r\n", b);
	fputs("X-Relayd-Report: 1\r\n", b);
	fputs("MIME-Version: 1.0\r\n", b);
	fprintf(b, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", boundary);
	fflush(b);
	*header_len = outlen;

	fputs("This is a MIME-encapsulated message.\r\n\r\n", b);
	fprintf(b, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Description: Notification\r\n\r\n", boundary);
	fprintf(b, "This is the mail system at relayd on %s.\r\n\r\n", host);
	fprintf(b, "A message could not be delivered to one of its recipients "
	    "(%s):\r\n\r\n", why);
	fprintf(b, "  <%s>\r\n", rcpt);
	if (*reply != '\0')
		fprintf(b, "  %s\r\n", reply);
	fputs("\r\n", b);
	if (*omid != '\0')
		fprintf(b, "Message-ID: <%s>\r\n", omid);
	if (*qid != '\0')
		fprintf(b, "Queue ID: %s\r\n", qid);
	fputs("\r\nThe delivery report and the header of the message follow.\r\n\r\n", b);

	fprintf(b, "--%s\r\nContent-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n", boundary);
	fprintf(b, "Reporting-MTA: dns; %s\r\n", host);
	if (*qid != '\0')
		fprintf(b, "X-Relayd-Queue-ID: %s\r\n", qid);
	if (f->arrival != 0)
		fprintf(b, "Arrival-Date: %s\r\n", arrival);
	fputs("\r\n", b);
	fprintf(b, "Final-Recipient: rfc822; %s\r\n", rcpt);
	fputs("Action: failed\r\n", b);
	fprintf(b, "Status: %s\r\n", status);
	if (remote != NULL)
		fprintf(b, "Remote-MTA: dns; %s\r\n", remote);
	if (*reply != '\0')
		fprintf(b, "Diagnostic-Code: %s; %s\r\n", isdigit((unsigned char)reply[0]) &&
		    isdigit((unsigned char)reply[1]) && isdigit((unsigned char)reply[2]) ?
		    "smtp" : "X-Relayd", reply);
	fprintf(b, "Last-Attempt-Date: %s\r\n\r\n", date);

	fprintf(b, "--%s\r\nContent-Type: text/rfc822-headers\r\n"
	    "Content-Description: Undelivered message header\r\n\r\n", boundary);
	if (f->headers != NULL && f->headers_len > 0)
		dsn_headers_part(b, f->headers, f->headers_len);
	else {
		if (*omid != '\0')
			fprintf(b, "Message-ID: <%s>\r\n", omid);
		fprintf(b, "To: <%s>\r\n", rcpt);
	}
	fprintf(b, "\r\n--%s--\r\n", boundary);

	free(host);
	free(to);
	free(rcpt);
	free(qid);
	free(reply);
	free(why);
	free(omid);
	free(mid);
	free(remote);
	free(boundary);
	if (fclose(b) != 0 || out == NULL)
		abort();	/* out of memory, as the x* wrappers would */
	*len = outlen;
	return out;
}
