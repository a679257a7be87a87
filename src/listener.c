/*
 * listener: one evconnlistener per configured address, IPv4 and IPv6.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/listener.h>
#include <event2/util.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "smtp_session.h"
#include "xmalloc.h"

struct listener {
	struct evconnlistener	**evl;
	size_t			 n;
};

static void
listener_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	smtp_session_accept(arg, fd, sa, salen);
}

static void
listener_error_cb(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and the like: log, and let libevent retry on the next event. */
	log_err("smtp: accept failed: %s", evutil_socket_error_to_string(e));
}

struct listener *
listener_new(struct smtp_server *srv)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	struct config *cfg = srv->cfg;

	l->evl = xcalloc(cfg->nlisten, sizeof(*l->evl));
	for (size_t i = 0; i < cfg->nlisten; i++) {
		struct sockaddr_storage ss;
		int sslen = sizeof(ss);
		unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
		    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED;

		if (evutil_parse_sockaddr_port(cfg->listen[i], (struct sockaddr *)&ss,
		    &sslen) == -1) {
			log_err("listen: cannot parse %s", cfg->listen[i]);
			listener_free(l);
			return NULL;
		}
		if (ss.ss_family == AF_INET6)
			flags |= LEV_OPT_BIND_IPV6ONLY;
		l->evl[l->n] = evconnlistener_new_bind(srv->base, listener_accept_cb, srv,
		    flags, 128, (struct sockaddr *)&ss, sslen);
		if (l->evl[l->n] == NULL) {
			log_err("listen: cannot listen on %s: %s", cfg->listen[i],
			    strerror(errno));
			listener_free(l);
			return NULL;
		}
		evconnlistener_set_error_cb(l->evl[l->n], listener_error_cb);
		log_info("listening on %s", cfg->listen[i]);
		l->n++;
	}
	return l;
}

void
listener_start(struct listener *l)
{
	for (size_t i = 0; i < l->n; i++)
		evconnlistener_enable(l->evl[i]);
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		evconnlistener_free(l->evl[i]);
	free(l->evl);
	free(l);
}
