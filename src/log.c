/*
 * log: the daemon's single log sink (stderr or syslog), with libevent's messages
 * routed into it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "log.h"

static int log_to_syslog;
static int log_max = LOG_INFO;

static const struct {
	const char	*name;
	int		 pri;
} log_levels[] = {
	{ "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

void
log_init(int to_syslog, int level)
{
	log_to_syslog = to_syslog;
	log_max = level;
	if (to_syslog)
		openlog("relayd", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int
log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
		if (strcasecmp(s, log_levels[i].name) == 0)
			return log_levels[i].pri;
	return -1;
}

static void
log_vmsg(int pri, const char *fmt, va_list ap)
{
	if (pri > log_max)
		return;
	if (log_to_syslog) {
		vsyslog(pri, fmt, ap);
		return;
	}
	char line[4096];
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One write per line so concurrent writers never interleave within a line. */
	fprintf(stderr, "relayd: %s\n", line);
}

void
log_msg(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(pri, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_libevent_cb(int severity, const char *msg)
{
	int pri = severity == EVENT_LOG_ERR ? LOG_ERR :
	    severity == EVENT_LOG_WARN ? LOG_WARNING :
	    severity == EVENT_LOG_MSG ? LOG_INFO : LOG_DEBUG;

	log_msg(pri, "libevent: %s", msg);
}

void
log_libevent(void)
{
	event_set_log_callback(log_libevent_cb);
}
