/*
 * metrics: the /metrics endpoint.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/util.h>

#include "bounce_store.h"
#include "events.h"
#include "imap_watch.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"
#include "version.h"
#include "webhook.h"
#include "xmalloc.h"

struct metrics {
	struct evhttp		*http;
	struct scheduler	*sched;
	struct bounce_store	*bounces;
	struct events		*events;
	struct webhook		*webhook;
	struct imap_watch	**watch;	/* relayd's, replaced by reloads */
};

/* metrics_write: every family relayd serves, into out. */
static void
metrics_write(struct metrics *m, struct evbuffer *out)
{
	evbuffer_add_printf(out, "# HELP relayd_build_info The running relayd's version "
	    "(always 1).\n# TYPE relayd_build_info gauge\nrelayd_build_info{version=\"%s\"} "
	    "1\n", RELAYD_VERSION);
	scheduler_metrics(m->sched, out);
	bounce_store_metrics(m->bounces, out);
	imap_watch_metrics(m->watch != NULL ? *m->watch : NULL, out);
	webhook_metrics(m->webhook, m->events, out);
}

/* metrics_serve: GET /metrics; anything else is 404. */
static void
metrics_serve(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *out;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	out = evbuffer_new();
	metrics_write(m, out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

void
metrics_set_events(struct metrics *m, struct events *ev, struct webhook *w)
{
	if (m != NULL) {
		m->events = ev;
		m->webhook = w;
	}
}

void
metrics_set_watch(struct metrics *m, struct imap_watch **w)
{
	if (m != NULL)
		m->watch = w;
}

static void
metrics_other(struct evhttp_request *req, void *arg)
{
	evhttp_send_error(req, 404, "see /metrics");
}

struct metrics *
metrics_new(struct event_base *base, const char *addr, struct scheduler *s,
    struct bounce_store *b)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	char *host = xstrdup(addr), *colon = strrchr(host, ':');
	int port = colon ? atoi(colon + 1) : 0;

	m->sched = s;
	m->bounces = b;
	if (colon != NULL)
		*colon = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {	/* [::1] */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	m->http = evhttp_new(base);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_cb(m->http, "/metrics", metrics_serve, m);
	evhttp_set_gencb(m->http, metrics_other, m);
	if (port <= 0 || evhttp_bind_socket(m->http, host, (ev_uint16_t)port) == -1) {
		log_err("metrics: cannot listen on %s", addr);
		free(host);
		metrics_free(m);
		return NULL;
	}
	log_info("metrics on http://%s/metrics", addr);
	free(host);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->http != NULL)
		evhttp_free(m->http);
	free(m);
}
