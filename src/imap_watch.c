/*
 * imap_watch: one imap_session per account with a "bounces" group. The sessions do
 * the work (imap_session.c); this only starts and stops them, and makes the
 * directory they keep their mailbox positions in (SPOOL/imap/).
 */
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_parse.h"
#include "config.h"
#include "imap_session.h"
#include "imap_watch.h"
#include "jsonstr.h"
#include "log.h"
#include "xmalloc.h"

struct imap_watch {
	struct imap_session	**sessions;
	size_t			 nsessions;
};

struct imap_watch *
imap_watch_start(struct event_base *base, struct evdns_base *dns, struct config *cfg,
    struct bounce_store *store)
{
	struct imap_watch *w;
	size_t n = 0;
	char *dir;

	for (size_t i = 0; i < cfg->naccounts; i++)
		n += cfg->accounts[i].bounces.enabled != 0;
	if (n == 0)
		return NULL;
	if (dns == NULL) {
		log_err("imap: no resolver; not watching for bounces");
		return NULL;
	}
	dir = xasprintf("%s/imap", cfg->spool_dir);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_err("imap: cannot create %s: %s; not watching for bounces", dir,
		    strerror(errno));
		free(dir);
		return NULL;
	}
	bounce_parse_init();
	w = xcalloc(1, sizeof(*w));
	w->sessions = xcalloc(n, sizeof(*w->sessions));
	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct imap_session *s;

		if (cfg->accounts[i].bounces.enabled &&
		    (s = imap_session_new(base, dns, store, &cfg->accounts[i], dir)) != NULL)
			w->sessions[w->nsessions++] = s;
	}
	free(dir);
	return w;
}

void
imap_watch_stop(struct imap_watch *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nsessions; i++)
		imap_session_free(w->sessions[i]);
	free(w->sessions);
	free(w);
}

/* imap_watch_time: a wall time as whole Unix seconds, or null for 0 (never). */
static json_t *
imap_watch_time(double t)
{
	return t > 0 ? json_integer((json_int_t)floor(t)) : json_null();
}

json_t *
imap_watch_status(const struct imap_watch *w)
{
	json_t *list = json_array();

	for (size_t i = 0; w != NULL && i < w->nsessions; i++) {
		struct imap_health h;

		imap_session_health(w->sessions[i], &h);
		json_array_append_new(list, json_pack("{s:o, s:s, s:b, s:o, s:o, s:o}",
		    "account", jsonstr_new(h.account), "state", h.state, "connected",
		    h.connected, "last_success", imap_watch_time(h.last_ok), "last_error",
		    jsonstr_new(h.last_err), "last_error_at", imap_watch_time(h.last_err_at)));
	}
	return list;
}

void
imap_watch_metrics(const struct imap_watch *w, struct evbuffer *out)
{
	struct imap_health h;

	evbuffer_add_printf(out, "# HELP relayd_bounce_watch_connected 1 while the bounce "
	    "watcher of the account is logged in to its mailbox, 0 while it reconnects.\n"
	    "# TYPE relayd_bounce_watch_connected gauge\n");
	for (size_t i = 0; w != NULL && i < w->nsessions; i++) {
		imap_session_health(w->sessions[i], &h);
		evbuffer_add_printf(out, "relayd_bounce_watch_connected{account=\"%s\"} %d\n",
		    h.account, h.connected);
	}
	evbuffer_add_printf(out, "# HELP relayd_bounce_watch_last_success_timestamp_seconds "
	    "When the bounce watcher last read the account's mailbox to the end (Unix "
	    "time; 0: not since relayd started or was reloaded).\n# TYPE "
	    "relayd_bounce_watch_last_success_timestamp_seconds gauge\n");
	for (size_t i = 0; w != NULL && i < w->nsessions; i++) {
		imap_session_health(w->sessions[i], &h);
		evbuffer_add_printf(out, "relayd_bounce_watch_last_success_timestamp_seconds{"
		    "account=\"%s\"} %.0f\n", h.account, floor(h.last_ok));
	}
}
