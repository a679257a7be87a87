/*
 * timefmt: ISO 8601 instants and "in 56m" spans for the log and the status.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "timefmt.h"

const char *
timefmt_iso(double t, int ms, char *buf, size_t len)
{
	long long msec = (long long)floor(t * 1000.0 + 0.5);	/* to the nearest ms */
	time_t s = ms ? (time_t)(msec / 1000) : (time_t)floor(t);
	struct tm tm;
	char day[24];

	gmtime_r(&s, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms)
		snprintf(buf, len, "%s.%03dZ", day, (int)(msec % 1000));
	else
		snprintf(buf, len, "%sZ", day);
	return buf;
}

const char *
timefmt_rel(double t, double now, char *buf, size_t len)
{
	double d = t - now;
	long long s = (long long)ceil(fabs(d) - (d < 0 ? 0.5 : 0.0));
	const char *pre = d > 0 ? "in " : "", *post = d > 0 ? "" : " ago";

	if (fabs(d) < 0.5) {
		snprintf(buf, len, "now");
		return buf;
	}
	if (s < 120)
		snprintf(buf, len, "%s%llds%s", pre, s, post);
	else if (s < 7200)
		snprintf(buf, len, "%s%lldm%s", pre, (s + 30) / 60, post);
	else if (s < 2 * 86400)
		snprintf(buf, len, "%s%lldh%02lldm%s", pre, s / 3600, s / 60 % 60, post);
	else
		snprintf(buf, len, "%s%lldd%02lldh%s", pre, s / 86400, s / 3600 % 24, post);
	return buf;
}
