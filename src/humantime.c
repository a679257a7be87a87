/*
 * humantime: ISO 8601 local times and "in 56m" spans for people (see humantime.h).
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "humantime.h"

const char *
humantime_span(long long d, char *buf, size_t len)
{
	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, len, "%llds", d);
	else if (d < 7200)
		snprintf(buf, len, "%lldm", d / 60);
	else if (d < 172800)
		snprintf(buf, len, "%lldh%02lldm", d / 3600, d / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", d / 86400, d / 3600 % 24);
	return buf;
}

const char *
humantime_rel(time_t t, time_t now, char *buf, size_t len)
{
	char span[32];

	if (t == now)
		snprintf(buf, len, "now");
	else if (t > now)
		snprintf(buf, len, "in %s", humantime_span((long long)(t - now), span,
		    sizeof(span)));
	else
		snprintf(buf, len, "%s ago", humantime_span((long long)(now - t), span,
		    sizeof(span)));
	return buf;
}

const char *
humantime_iso(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, "%Y-%m-%d %H:%M:%S %z",
	    &tm) == 0)
		snprintf(buf, len, "@%lld", (long long)t);
	return buf;
}

const char *
humantime_both(time_t t, time_t now, char *buf, size_t len)
{
	char iso[40], rel[40];

	snprintf(buf, len, "%s (%s)", humantime_iso(t, iso, sizeof(iso)), humantime_rel(t,
	    now, rel, sizeof(rel)));
	return buf;
}

const char *
humantime_utc(double t, int ms, char *buf, size_t len)
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
humantime_rel_frac(double t, double now, char *buf, size_t len)
{
	double d = t - now;
	long long s = (long long)ceil(fabs(d) - (d < 0 ? 0.5 : 0.0));
	char span[32];

	if (fabs(d) < 0.5) {
		snprintf(buf, len, "now");
		return buf;
	}
	if (s >= 120 && s < 7200)
		s = (s + 30) / 60 * 60;
	snprintf(buf, len, d > 0 ? "in %s" : "%s ago", humantime_span(s, span, sizeof(span)));
	return buf;
}
