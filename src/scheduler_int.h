/*
 * scheduler_int: the scheduler's private parts, shared by scheduler.c (the waiting
 * room and the attempts) and scheduler_report.c (relayctl status and metrics).
 * Nothing else includes this.
 */
#ifndef RELAYD_SCHEDULER_INT_H
#define RELAYD_SCHEDULER_INT_H

#include "scheduler.h"

struct scheduler {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct config		*cfg;
	struct queue		*q;
	struct bounce_store	*bounces;
	int			 loading;	/* the spool is still being read */
	struct sched_account	**accounts;	/* in config order */
	struct sched_account	**retired;	/* gone from the config; sessions ending */
	size_t			 nretired;
	size_t			 naccounts;
	struct queue_msg	**heap;		/* waiting messages, earliest next_try first */
	size_t			 nheap, heapcap;
	size_t			 nheap_tried;	/* of them, attempted before (deferred) */
	size_t			 ninflight;
	size_t			 nheld;
	size_t			 pending_rcpts;	/* recipients not yet done, all mail */
	unsigned long long	 nreceived;	/* counters for metrics */
	unsigned long long	 ndeferred;
	unsigned long long	 nfailed;
	struct queue_msg	**ids;		/* every message by queue id (chained) */
	size_t			 idcap, nids;
	struct event		*timer;
	int			 kicking;
};

/*
 * scheduler_ready_at: the earliest time, not before now, at which account a may start
 * a transaction; 0: not at all (disabled).
 */
double		 scheduler_ready_at(const struct sched_account *, double now);

#endif
