/*
 * sdnotify: a datagram to $NOTIFY_SOCKET, a filesystem path or, with a leading "@",
 * an abstract socket.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

int
sdnotify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, r;

	if (path == NULL || *path == '\0')
		return 0;
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
	if (r == -1)
		log_debug("sd_notify to %s failed", path);
	return r == -1 ? -1 : 0;
}

/* sdnotify_ping: the watchdog's heartbeat. */
static void
sdnotify_ping(evutil_socket_t fd, short ev, void *arg)
{
	sdnotify("WATCHDOG=1");
}

struct event *
sdnotify_watchdog(struct event_base *base)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	struct event *ev;
	long long us;

	if (usec == NULL || (us = atoll(usec)) <= 0)
		return NULL;
	if (pid != NULL && atoll(pid) != (long long)getpid())
		return NULL;	/* meant for another process */
	us /= 2;
	struct timeval tv = { .tv_sec = us / 1000000, .tv_usec = us % 1000000 };
	ev = event_new(base, -1, EV_PERSIST, sdnotify_ping, NULL);
	event_add(ev, &tv);
	sdnotify("WATCHDOG=1");
	return ev;
}
