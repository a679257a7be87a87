/*
 * log: one line per event, key=value, starting with the queue id where there is one
 * (Postfix style). Goes to stderr (journald takes it) or to syslog.
 */
#ifndef RELAYD_LOG_H
#define RELAYD_LOG_H

#include <syslog.h>

/* log_init: where lines go (to_syslog 0: stderr) and the most verbose priority kept. */
void	log_init(int to_syslog, int level);
/* log_level_parse: "error", "warning", "info", "debug" to a LOG_* priority, or -1. */
int	log_level_parse(const char *);
/* log_libevent: route libevent's own warnings into our log (call once at start-up). */
void	log_libevent(void);

void	log_msg(int pri, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...)	log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
/* fatal: log at LOG_CRIT and exit(1). */
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
