/*
 * metrics: the HTTP endpoints on metrics_listen: /metrics (Prometheus), / (the status
 * page, statuspage.c) and /status.json (what relayctl status --json prints: the same
 * control command answers both). Only GET; other paths are 404.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/util.h>

#include "bounce_store.h"
#include "control.h"
#include "events.h"
#include "imap_watch.h"
#include "log.h"
#include "metrics.h"
#include "scheduler.h"
#include "statuspage.h"
#include "version.h"
#include "webhook.h"
#include "xmalloc.h"

struct metrics {
	struct evhttp		*http;
	struct scheduler	*sched;
	struct bounce_store	*bounces;
	struct events		*events;
	struct webhook		*webhook;
	/* the status page's */
	struct control		*ctl;		/* answers "status" and "bounces" */
	json_t			*failures;	/* the journal's last "failed" events */
	uint64_t		 failures_seen;	/* the journal read up to this id */
	struct events_pos	 failures_pos;
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

/* ---- the status page and /status.json ------------------------------------------- */

#define METRICS_SCAN_MAX	5000	/* journal records read per page, at most */
#define METRICS_SCAN_BATCH	500

/*
 * metrics_control: the result of control command cmd with args (JSON text), as
 * relayctl gets it: a new reference, or NULL (no control socket yet, or an error).
 */
static json_t *
metrics_control(struct metrics *m, const char *cmd, const char *args)
{
	char *line;
	json_t *ans, *res;

	if (m->ctl == NULL)
		return NULL;
	line = xasprintf("{\"v\":%d,\"cmd\":\"%s\",\"args\":%s}", CONTROL_VERSION, cmd,
	    args);
	ans = control_dispatch(m->ctl, line);
	free(line);
	res = json_is_true(json_object_get(ans, "ok")) ? json_incref(json_object_get(ans,
	    "result")) : NULL;
	json_decref(ans);
	return res;
}

/*
 * metrics_failures: the journal's last STATUSPAGE_ROWS "failed" events, newest first
 * (a new reference), or NULL when there is no journal. Reads on from where the last
 * page stopped, at most METRICS_SCAN_MAX records (older ones are skipped).
 */
static json_t *
metrics_failures(struct metrics *m)
{
	uint64_t last;
	json_t *batch, *ev, *out;
	size_t i;
	ssize_t n;

	if (m->events == NULL)
		return NULL;
	if (m->failures == NULL)
		m->failures = json_array();
	last = events_last_id(m->events);
	if (last > m->failures_seen + METRICS_SCAN_MAX)
		m->failures_seen = last - METRICS_SCAN_MAX;
	while (m->failures_seen < last) {
		batch = json_array();
		n = events_read(events_dirfd(m->events), m->failures_seen, METRICS_SCAN_BATCH,
		    batch, &m->failures_pos);
		json_array_foreach(batch, i, ev) {
			const char *t = json_string_value(json_object_get(ev, "type"));

			if (t != NULL && strcmp(t, "failed") == 0)
				json_array_append(m->failures, ev);
			m->failures_seen = events_file_id(ev);
		}
		json_decref(batch);
		if (n <= 0)
			break;
	}
	while (json_array_size(m->failures) > STATUSPAGE_ROWS)
		json_array_remove(m->failures, 0);
	out = json_array();
	for (i = json_array_size(m->failures); i > 0; i--)
		json_array_append(out, json_array_get(m->failures, i - 1));
	return out;
}

/* metrics_reply: send body (len octets) as type, not to be cached. */
static void
metrics_reply(struct evhttp_request *req, const char *type, const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();

	evbuffer_add(out, body, len);
	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* The page has no script and loads nothing: say so to the browser. */
	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; "
	    "style-src 'unsafe-inline'; img-src data:; form-action 'none'; "
	    "frame-ancestors 'none'");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* metrics_get: is req a GET? If not, it is answered 405. */
static int
metrics_get(struct evhttp_request *req)
{
	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
		return 1;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
	evhttp_send_error(req, 405, "only GET");
	return 0;
}

/* metrics_status_json: GET /status.json: what relayctl status --json prints. */
static void
metrics_status_json(struct evhttp_request *req, void *arg)
{
	json_t *st;
	char *s;

	if (!metrics_get(req))
		return;
	if ((st = metrics_control(arg, "status", "{}")) == NULL) {
		evhttp_send_error(req, 503, "status is not available yet");
		return;
	}
	s = json_dumps(st, JSON_COMPACT | JSON_ENCODE_ANY);	/* as relayctl prints it */
	metrics_reply(req, "application/json", s ? s : "null", s ? strlen(s) : 4);
	free(s);
	json_decref(st);
}

/* metrics_page: GET /: the status page, drawn from the same status object. */
static void
metrics_page(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	json_t *st, *extra, *b, *f;
	char *page;
	size_t len;

	if (!metrics_get(req))
		return;
	if ((st = metrics_control(m, "status", "{}")) == NULL) {
		evhttp_send_error(req, 503, "status is not available yet");
		return;
	}
	extra = json_pack("{s:o}", "history", scheduler_history(m->sched, STATUSPAGE_HOURS));
	if ((b = metrics_control(m, "bounces", "{\"limit\":10}")) != NULL) {
		json_object_set(extra, "bounces", json_object_get(b, "bounces"));
		json_decref(b);
	}
	if ((f = metrics_failures(m)) != NULL)
		json_object_set_new(extra, "failures", f);
	page = statuspage_render(st, extra, time(NULL), &len);
	metrics_reply(req, "text/html; charset=utf-8", page, len);
	free(page);
	json_decref(extra);
	json_decref(st);
}

void
metrics_set_control(struct metrics *m, struct control *ctl)
{
	if (m != NULL)
		m->ctl = ctl;
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
	evhttp_send_error(req, 404, "see /, /status.json or /metrics");
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
	/* Every method reaches the handlers, which answer 405 to all but GET (evhttp's
	 * own answer to a method it was not allowed is a 501). */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
	    EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_cb(m->http, "/metrics", metrics_serve, m);
	evhttp_set_cb(m->http, "/", metrics_page, m);
	evhttp_set_cb(m->http, "/status.json", metrics_status_json, m);
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
	json_decref(m->failures);
	free(m);
}
