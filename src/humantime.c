/*
 * humantime: ISO 8601 local times and "in 56m" spans for people (see humantime.h).
 */
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
