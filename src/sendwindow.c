/*
 * sendwindow: parse a send window, read its time zone from the tz database, and say
 * whether a time is inside it (see sendwindow.h).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sendwindow.h"
#include "xmalloc.h"

#define SENDWINDOW_TZMAX	(1 << 20)	/* no TZif file is near this */

static const char *sendwindow_days[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* sendwindow_day: the day named at s (three letters), or -1. */
static int
sendwindow_day(const char *s)
{
	for (int d = 0; d < 7; d++)
		if (strncasecmp(s, sendwindow_days[d], 3) == 0 && !isalpha((unsigned char)s[3]))
			return d;
	return -1;
}

/* sendwindow_daylist: "Mon-Fri", "Sat,Sun", "Fri-Mon" into a bit mask; 0 if bad. */
static unsigned
sendwindow_daylist(const char *s)
{
	unsigned mask = 0;

	for (;;) {
		int a = sendwindow_day(s), b;

		if (a < 0)
			return 0;
		s += 3;
		b = a;
		if (*s == '-') {
			if ((b = sendwindow_day(s + 1)) < 0)
				return 0;
			s += 4;
		}
		for (int d = a;; d = (d + 1) % 7) {	/* Fri-Mon wraps */
			mask |= 1u << d;
			if (d == b)
				break;
		}
		if (*s == '\0')
			return mask;
		if (*s++ != ',')
			return 0;
	}
}

/* sendwindow_hhmm: "HH:MM" (00:00 .. 24:00) as minutes, or -1. */
static int
sendwindow_hhmm(const char *s, const char **end)
{
	int h, m;

	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	*end = s + 5;
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	return h * 60 + m;
}

int
sendwindow_parse(const char *text, struct sendwindow *w, char *err, size_t len)
{
	char buf[256], *tok[3], *save = NULL;
	int n = 0, i = 0;
	const char *end;

	memset(w, 0, sizeof(*w));
	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, len, "too long");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save)) {
		if (n == 3) {
			snprintf(err, len, "\"%s\" is not [DAYS] HH:MM-HH:MM [ZONE] (e.g. "
			    "\"Mon-Fri 08:00-20:00 Europe/Moscow\")", text);
			return -1;
		}
		tok[n++] = t;
	}
	w->days = 0x7f;
	if (n > 0 && !isdigit((unsigned char)tok[0][0])) {	/* days come first */
		if ((w->days = sendwindow_daylist(tok[0])) == 0) {
			snprintf(err, len, "\"%s\" is not a list of days (e.g. Mon-Fri, Sat,Sun)",
			    tok[0]);
			return -1;
		}
		i = 1;
	}
	if (i >= n || (w->start = sendwindow_hhmm(tok[i], &end)) < 0 || *end != '-' ||
	    (w->end = sendwindow_hhmm(end + 1, &end)) < 0 || *end != '\0') {
		snprintf(err, len, "\"%s\" is not [DAYS] HH:MM-HH:MM [ZONE] (e.g. "
		    "\"Mon-Fri 08:00-20:00 Europe/Moscow\")", text);
		return -1;
	}
	if (w->start == w->end || w->start == 1440 || w->end == 0) {
		snprintf(err, len, "%s is an empty window", tok[i]);
		return -1;
	}
	i++;
	snprintf(w->zone, sizeof(w->zone), "%s", i < n ? tok[i] : "UTC");
	if (i + 1 < n || strlen(i < n ? tok[i] : "") >= sizeof(w->zone) ||
	    w->zone[0] == '/' || w->zone[0] == '.' || strstr(w->zone, "..") != NULL) {
		snprintf(err, len, "\"%s\" is not a time zone name (e.g. Europe/Moscow)",
		    i < n ? tok[i] : "");
		return -1;
	}
	return 0;
}

/* sendwindow_be: a big-endian integer of n bytes (4 or 8), sign-extended. */
static int64_t
sendwindow_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 4)
		return (int32_t)(uint32_t)v;
	return (int64_t)v;
}

int
sendwindow_tzif(const unsigned char *buf, size_t len, struct sendwindow *w)
{
	const unsigned char *p = buf, *end = buf + len;
	int64_t cnt[6];		/* isutcnt isstdcnt leapcnt timecnt typecnt charcnt */
	int tsize = 4;
	size_t body;

	for (int pass = 0; pass < 2; pass++) {
		if (end - p < 44 || memcmp(p, "TZif", 4) != 0)
			return -1;
		for (int i = 0; i < 6; i++)
			cnt[i] = sendwindow_be(p + 20 + 4 * i, 4);
		for (int i = 0; i < 6; i++)
			if (cnt[i] < 0 || cnt[i] > 100000)
				return -1;
		if (cnt[4] == 0)
			return -1;
		body = (size_t)(cnt[3] * tsize + cnt[3] + cnt[4] * 6 + cnt[5] +
		    cnt[2] * (tsize + 4) + cnt[1] + cnt[0]);
		if ((size_t)(end - p) - 44 < body)
			return -1;
		if (pass == 0 && p[4] >= '2') {	/* skip the 32-bit block: 64-bit follows */
			p += 44 + body;
			tsize = 8;
			continue;
		}
		break;
	}
	{
		const unsigned char *times = p + 44, *idx = times + cnt[3] * tsize,
		    *types = idx + cnt[3];

		sendwindow_free_data(w);
		w->ntrans = (size_t)cnt[3];
		w->trans = xcalloc(w->ntrans + 1, sizeof(*w->trans));
		w->offs = xcalloc(w->ntrans + 1, sizeof(*w->offs));
		for (size_t i = 0; i < w->ntrans; i++) {
			if (idx[i] >= cnt[4]) {
				sendwindow_free_data(w);
				return -1;
			}
			w->trans[i] = sendwindow_be(times + i * (size_t)tsize, tsize);
			w->offs[i] = (int32_t)sendwindow_be(types + idx[i] * 6, 4);
			if (i > 0 && w->trans[i] < w->trans[i - 1]) {
				sendwindow_free_data(w);
				return -1;
			}
		}
		/* Before the first transition: the first standard-time type (RFC 8536
		 * 3.2: type 0 in practice). */
		w->off0 = (int32_t)sendwindow_be(types, 4);
	}
	return 0;
}

int
sendwindow_load(struct sendwindow *w, const char *dir, char *err, size_t len)
{
	char *path;
	unsigned char *buf;
	struct stat st;
	ssize_t n;
	int fd, rc;

	if (strcmp(w->zone, "UTC") == 0) {
		sendwindow_free_data(w);
		w->off0 = 0;
		return 0;
	}
	path = xasprintf("%s/%s", dir ? dir : "/usr/share/zoneinfo", w->zone);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1 ||
	    !S_ISREG(st.st_mode) || st.st_size > SENDWINDOW_TZMAX) {
		snprintf(err, len, "unknown time zone \"%s\" (%s: %s)", w->zone, path,
		    fd == -1 ? strerror(errno) : "not a zone file");
		if (fd != -1)
			close(fd);
		free(path);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	rc = n == st.st_size ? sendwindow_tzif(buf, (size_t)n, w) : -1;
	if (rc == -1)
		snprintf(err, len, "%s is not a time zone file (TZif)", path);
	free(buf);
	free(path);
	return rc;
}

int32_t
sendwindow_offset(const struct sendwindow *w, int64_t t)
{
	size_t lo = 0, hi = w->ntrans;

	if (w->ntrans == 0 || t < w->trans[0])
		return w->off0;
	while (hi - lo > 1) {		/* the last transition at or before t */
		size_t mid = lo + (hi - lo) / 2;

		if (w->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return w->offs[lo];
}

/* sendwindow_floor: a / b rounded down (a may be negative). */
static int64_t
sendwindow_floor(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int
sendwindow_inside(const struct sendwindow *w, int64_t t)
{
	int64_t local = t + sendwindow_offset(w, t), day = sendwindow_floor(local, 86400);
	int min = (int)((local - day * 86400) / 60);
	int wday = (int)(((day + 4) % 7 + 7) % 7);	/* 1970-01-01 was a Thursday */
	int yday = (wday + 6) % 7;

	if (w->start < w->end)
		return (w->days >> wday & 1) && min >= w->start && min < w->end;
	/* over midnight: the evening of a listed day, or the morning after one */
	return ((w->days >> wday & 1) && min >= w->start) ||
	    ((w->days >> yday & 1) && min < w->end);
}

int64_t
sendwindow_next_open(const struct sendwindow *w, int64_t t)
{
	int64_t m;

	if (w->days == 0)
		return -1;
	if (sendwindow_inside(w, t))
		return t;
	/* Minute by minute over at most 8 days (and a DST hour): bounded, and only
	 * asked while the window is shut, once per opening (the caller keeps it). */
	m = sendwindow_floor(t, 60) * 60 + 60;
	for (int i = 0; i < 8 * 1440 + 120; i++, m += 60)
		if (sendwindow_inside(w, m))
			return m;
	return -1;
}

double
sendwindow_share(const struct sendwindow *w)
{
	int days = 0, len = w->start < w->end ? w->end - w->start : 1440 - w->start + w->end;

	for (int d = 0; d < 7; d++)
		days += w->days >> d & 1;
	return days * len / (7.0 * 1440);
}

void
sendwindow_free_data(struct sendwindow *w)
{
	free(w->trans);
	free(w->offs);
	w->trans = NULL;
	w->offs = NULL;
	w->ntrans = 0;
}
