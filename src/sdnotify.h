/*
 * sdnotify: the systemd notification protocol (sd_notify(3)) in a few lines, with no
 * dependency on libsystemd: READY=1, RELOADING=1, STOPPING=1, STATUS=..., and the
 * watchdog. Without NOTIFY_SOCKET in the environment everything is a no-op.
 */
#ifndef RELAYD_SDNOTIFY_H
#define RELAYD_SDNOTIFY_H

#include <event2/event.h>

/* sdnotify: send state (e.g. "READY=1\nSTATUS=accepting mail"). Returns 0 or -1. */
int	sdnotify(const char *state);

/*
 * sdnotify_watchdog: if systemd asked for a watchdog (WATCHDOG_USEC, for this
 * process), ping it at half the interval from the event loop. Returns the timer event
 * (the caller frees it at exit), or NULL when no watchdog is wanted.
 */
struct event *sdnotify_watchdog(struct event_base *);

#endif
