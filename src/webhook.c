/*
 * webhook: the journal's delivery to the application (contract in webhook.h). One
 * POST at a time, so the receiver sees the events in order; states:
 *   IDLE     nothing undelivered, or about to look
 *   POSTING  a batch is in flight
 *   WAITING  the last POST failed; a timer ends the delay
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>

#include "config.h"
#include "events.h"
#include "http.h"
#include "jsonstr.h"
#include "log.h"
#include "webhook.h"
#include "xmalloc.h"

enum webhook_state {
	WEBHOOK_IDLE,
	WEBHOOK_POSTING,
	WEBHOOK_WAITING,
	WEBHOOK_NSTATES
};

static const char *const webhook_state_names[] = {
	[WEBHOOK_IDLE] = "idle",
	[WEBHOOK_POSTING] = "posting",
	[WEBHOOK_WAITING] = "waiting",
};
_Static_assert(sizeof(webhook_state_names) / sizeof(webhook_state_names[0]) ==
    WEBHOOK_NSTATES, "a name for every state");

struct webhook {
	struct events		*ev;
	struct http		*http;
	struct event		*timer;		/* the delay, or the next look (0 s) */
	enum webhook_state	 state;
	char			*url, *secret, *ca_file;
	int			 batch;
	struct events_pos	 pos;		/* where the last read stopped */
	uint64_t		 batch_last;	/* last id of the batch in flight */
	time_t			 oldest;	/* time of the first undelivered event seen */
	int			 failures;	/* POSTs failed in a row */
	time_t			 next_try;
	char			*last_error;
	unsigned long long	 nok, nfail;
};

static void webhook_post(struct webhook *);

int
webhook_sign(const char *secret, long long t, const char *body, size_t len, char hex[65])
{
	/* OpenSSL 3's HMAC through EVP_MAC: "t." and the body go in as two updates. */
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t outl = 0;
	char head[32];
	int n = snprintf(head, sizeof(head), "%lld.", t), ok;

	ok = ctx != NULL && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret),
	    params) == 1 && EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)n) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)body, len) == 1 &&
	    EVP_MAC_final(ctx, md, &outl, sizeof(md)) == 1;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	if (!ok || outl != 32)
		return -1;
	for (size_t i = 0; i < outl; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* webhook_enter_state: every transition goes through here (and the debug log). */
static void
webhook_enter_state(struct webhook *w, enum webhook_state st)
{
	if (w->state != st)
		log_debug("events: webhook %s -> %s", webhook_state_names[w->state],
		    webhook_state_names[st]);
	w->state = st;
}

/* webhook_failed: the batch did not go: wait, doubling from 1 s. */
static void
webhook_failed(struct webhook *w, const char *why)
{
	int delay = w->failures >= 9 ? WEBHOOK_DELAY_MAX : 1 << w->failures;

	if (delay > WEBHOOK_DELAY_MAX)
		delay = WEBHOOK_DELAY_MAX;
	w->failures++;
	w->nfail++;
	free(w->last_error);
	w->last_error = xstrdup(why);
	w->next_try = time(NULL) + delay;
	log_warn("events: webhook %s failed (%s); %" PRIu64 " event(s) waiting, next try "
	    "in %ds", w->url, why, events_last_id(w->ev) - events_cursor(w->ev), delay);
	webhook_enter_state(w, WEBHOOK_WAITING);
	evtimer_add(w->timer, &(struct timeval){ .tv_sec = delay });
}

/* webhook_done: the receiver's answer to a batch. */
static void
webhook_done(long status, const char *body, size_t len, const char *err, void *arg)
{
	struct webhook *w = arg;
	char why[256];

	if (status >= 200 && status <= 299) {
		if (w->failures > 0)
			log_info("events: webhook %s takes events again", w->url);
		events_set_cursor(w->ev, w->batch_last);
		w->failures = 0;
		w->nok++;
		w->oldest = 0;
		webhook_enter_state(w, WEBHOOK_IDLE);
		/* Not from within curl's callback: the next batch goes from the loop. */
		evtimer_add(w->timer, &(struct timeval){ .tv_sec = 0 });
		return;
	}
	if (status != 0)
		snprintf(why, sizeof(why), "HTTP status %ld%s", status, status >= 300 &&
		    status <= 399 ? ", a redirect (not followed)" : "");
	else
		snprintf(why, sizeof(why), "%s", err ? err : "no answer");
	webhook_failed(w, why);
}

/* webhook_post: post the next batch, if any. */
static void
webhook_post(struct webhook *w)
{
	json_t *a = json_array();
	ssize_t n = events_read(events_dirfd(w->ev), events_cursor(w->ev), (size_t)w->batch,
	    a, &w->pos);
	char hex[65], sig[128], *body;
	const char *hdrs[2] = { sig, NULL };
	long long t = (long long)time(NULL);

	if (n <= 0) {
		json_decref(a);
		w->oldest = 0;
		webhook_enter_state(w, WEBHOOK_IDLE);
		return;
	}
	w->oldest = (time_t)json_integer_value(json_object_get(json_array_get(a, 0), "time"));
	w->batch_last = events_file_id(json_array_get(a, (size_t)n - 1));
	body = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(a);
	if (body == NULL || webhook_sign(w->secret, t, body, strlen(body), hex) == -1) {
		free(body);
		webhook_failed(w, "cannot sign the batch");
		return;
	}
	snprintf(sig, sizeof(sig), "X-Relayd-Signature: t=%lld,v1=%s", t, hex);
	webhook_enter_state(w, WEBHOOK_POSTING);
	if (http_post_json(w->http, w->url, body, hdrs, w->ca_file, WEBHOOK_TIMEOUT,
	    webhook_done, w) == NULL)
		webhook_failed(w, "the request could not start");
	free(body);
}

/* webhook_timer_cb: the delay is over, or a batch went and the next may follow. */
static void
webhook_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct webhook *w = arg;

	webhook_enter_state(w, WEBHOOK_IDLE);
	webhook_post(w);
}

/* webhook_notify: new events in the journal (events_set_notify). */
static void
webhook_notify(void *arg)
{
	struct webhook *w = arg;

	if (w->state == WEBHOOK_IDLE)
		webhook_post(w);
}

/* webhook_take: the settings of cfg. */
static void
webhook_take(struct webhook *w, const struct config_events *cfg)
{
	free(w->url);
	free(w->ca_file);
	if (w->secret != NULL)
		explicit_bzero(w->secret, strlen(w->secret));
	free(w->secret);
	w->url = xstrdup(cfg->webhook);
	w->secret = xstrdup(cfg->secret ? cfg->secret : "");
	w->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
	w->batch = cfg->batch;
}

struct webhook *
webhook_new(struct event_base *base, struct events *ev, const struct config_events *cfg)
{
	struct webhook *w;

	if (cfg->webhook == NULL || ev == NULL)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->ev = ev;
	w->http = http_new(base);
	w->timer = evtimer_new(base, webhook_timer_cb, w);
	webhook_take(w, cfg);
	events_set_notify(ev, webhook_notify, w);
	evtimer_add(w->timer, &(struct timeval){ .tv_sec = 0 });	/* what waits from before */
	return w;
}

void
webhook_reconfigure(struct webhook *w, const struct config_events *cfg)
{
	if (w != NULL && cfg->webhook != NULL)
		webhook_take(w, cfg);
}

void
webhook_free(struct webhook *w)
{
	if (w == NULL)
		return;
	events_set_notify(w->ev, NULL, NULL);
	http_free(w->http);
	event_free(w->timer);
	if (w->secret != NULL)
		explicit_bzero(w->secret, strlen(w->secret));
	free(w->secret);
	free(w->url);
	free(w->ca_file);
	free(w->last_error);
	free(w);
}

/* webhook_oldest: the time of the first undelivered event (0: none). */
static time_t
webhook_oldest(const struct webhook *w, const struct events *ev)
{
	json_t *a;
	time_t t = 0;

	if (ev == NULL || events_last_id(ev) <= events_cursor(ev))
		return 0;
	if (w != NULL && w->oldest != 0)
		return w->oldest;
	a = json_array();
	if (events_read(events_dirfd(ev), events_cursor(ev), 1, a, NULL) == 1)
		t = (time_t)json_integer_value(json_object_get(json_array_get(a, 0), "time"));
	json_decref(a);
	return t;
}

json_t *
webhook_status(const struct webhook *w, const struct events *ev)
{
	uint64_t last = ev ? events_last_id(ev) : 0, cur = ev ? events_cursor(ev) : 0;
	time_t oldest = w ? webhook_oldest(w, ev) : 0, now = time(NULL);
	json_t *o = json_pack("{s:b, s:I}", "journal", ev != NULL, "last_id", (json_int_t)last);

	if (w == NULL) {
		json_object_set_new(o, "state", json_string("off"));
		return o;
	}
	json_object_set_new(o, "webhook", jsonstr_new(w->url));
	json_object_set_new(o, "state", json_string(webhook_state_names[w->state]));
	json_object_set_new(o, "delivered", json_integer((json_int_t)cur));
	json_object_set_new(o, "backlog", json_integer((json_int_t)(last > cur ? last - cur : 0)));
	json_object_set_new(o, "oldest_age", json_integer(oldest ? (json_int_t)(now - oldest) : 0));
	json_object_set_new(o, "failures", json_integer(w->failures));
	json_object_set_new(o, "last_error", jsonstr_new(w->failures ? w->last_error : NULL));
	json_object_set_new(o, "next_try", w->state == WEBHOOK_WAITING ?
	    json_integer((json_int_t)w->next_try) : json_null());
	return o;
}

void
webhook_metrics(const struct webhook *w, const struct events *ev, struct evbuffer *out)
{
	uint64_t last, cur;
	time_t oldest;

	if (w == NULL)
		return;
	last = events_last_id(ev);
	cur = events_cursor(ev);
	oldest = webhook_oldest(w, ev);
	evbuffer_add_printf(out, "# TYPE relayd_events_backlog gauge\n"
	    "relayd_events_backlog %" PRIu64 "\n"
	    "# TYPE relayd_events_oldest_age_seconds gauge\n"
	    "relayd_events_oldest_age_seconds %lld\n"
	    "# TYPE relayd_webhook_posts_total counter\n"
	    "relayd_webhook_posts_total{result=\"ok\"} %llu\n"
	    "relayd_webhook_posts_total{result=\"failed\"} %llu\n",
	    last > cur ? last - cur : 0, oldest ? (long long)(time(NULL) - oldest) : 0LL,
	    w->nok, w->nfail);
}
