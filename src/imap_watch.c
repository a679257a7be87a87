/*
 * imap_watch: one imap_session per account with a "bounces" group. The sessions do
 * the work (imap_session.c); this only starts and stops them, and makes the
 * directory they keep their mailbox positions in (SPOOL/imap/).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_parse.h"
#include "config.h"
#include "imap_session.h"
#include "imap_watch.h"
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
