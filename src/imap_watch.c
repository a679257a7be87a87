/*
 * imap_watch: placeholder until the IMAP watcher lands.
 */
#include <stdlib.h>

#include "imap_watch.h"

struct imap_watch *
imap_watch_start(struct event_base *base, struct evdns_base *dns, struct config *cfg,
    struct bounce_store *b)
{
	return NULL;
}

void
imap_watch_stop(struct imap_watch *w)
{
}
