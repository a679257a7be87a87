/*
 * metrics: Prometheus text exposition on http://metrics_listen/metrics (evhttp).
 * The figures come from the modules that own them; this file only serves them.
 */
#ifndef RELAYD_METRICS_H
#define RELAYD_METRICS_H

#include <event2/event.h>

struct scheduler;
struct bounce_store;
struct metrics;

/*
 * metrics_new: serve /metrics on addr ("127.0.0.1:9125"). Returns NULL after logging
 * (the address cannot be bound).
 */
struct metrics	*metrics_new(struct event_base *, const char *addr, struct scheduler *,
		    struct bounce_store *);
void		 metrics_free(struct metrics *);

struct events;
struct webhook;

/* metrics_set_events: also serve the event journal's and webhook's figures (NULL: none). */
void		 metrics_set_events(struct metrics *, struct events *, struct webhook *);

struct imap_watch;

/*
 * metrics_set_watch: also serve the bounce watchers' health, read through *w (the
 * caller's pointer, which a reload replaces; NULL or *w NULL: none watched).
 */
void		 metrics_set_watch(struct metrics *, struct imap_watch **w);

#endif
