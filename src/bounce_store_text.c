/*
 * bounce_store_text: the forms the bounce store keeps and shows: addresses and
 * Message-IDs normalised for matching, dates and times for messages and relayctl,
 * and what counts as an address for the suppression list. Pure.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bounce_parse.h"
#include "bounce_status.h"
#include "bounce_store.h"
#include "bounce_store_int.h"
#include "config.h"
#include "events.h"
#include "jsonstr.h"
#include "log.h"
#include "xmalloc.h"

/* bounce_store_lower: s lower-cased (ASCII) in a new string. */
char *
bounce_store_lower(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* bounce_store_mid: a Message-ID without blanks and <>, in a new string. */
char *
bounce_store_mid(const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '<')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	    s[n - 1] == '\n' || s[n - 1] == '>'))
		n--;
	char *d = xstrndup(s, n);
	for (char *p = d; *p != '\0'; p++)
		if (*p == '\t' || *p == '\r' || *p == '\n')
			*p = ' ';
	return d;
}

/* bounce_store_date: "2026-11-22" (UTC) for t. */
const char *
bounce_store_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
	return buf;
}

/* bounce_store_iso: "2026-11-22T10:00:00Z" for t, as a JSON string. */
json_t *
bounce_store_iso(time_t t)
{
	char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* bounce_store_addr_ok: a plausible address for the list: local@domain, no blanks. */
int
bounce_store_addr_ok(const char *a)
{
	const char *at = strrchr(a, '@');
	size_t n = strlen(a);

	if (n == 0 || n >= BOUNCE_STORE_ADDR_MAX || at == NULL || at == a || at[1] == '\0')
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= 0x20 || *a == 0x7f || *a == '<' || *a == '>')
			return 0;
	return 1;
}
