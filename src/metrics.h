/*
 * metrics: Prometheus text exposition on http://metrics_listen/metrics (evhttp), the
 * status page on / and the status as JSON on /status.json (statuspage.h).
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

struct control;

/*
 * metrics_set_control: serve / (the status page) and /status.json from the "status"
 * (and "bounces") commands of ctl, exactly as relayctl gets them (NULL: those answer
 * 503 until it is set).
 */
void		 metrics_set_control(struct metrics *, struct control *);

struct imap_watch;

/*
 * metrics_set_watch: also serve the bounce watchers' health, read through *w (the
 * caller's pointer, which a reload replaces; NULL or *w NULL: none watched).
 */
void		 metrics_set_watch(struct metrics *, struct imap_watch **w);

#endif
