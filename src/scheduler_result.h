/*
 * scheduler_result: what one upstream attempt did for one recipient of a message, as
 * the session reports it to the scheduler. A header of its own, below the scheduler
 * and the modules it uses (scheduler_domain), so that they need not include each
 * other.
 */
#ifndef RELAYD_SCHEDULER_RESULT_H
#define RELAYD_SCHEDULER_RESULT_H

#include <stddef.h>

#include "outcome.h"

/* The result of one upstream attempt for one recipient of a message. */
struct sched_rcpt_result {
	size_t			 idx;		/* recipient index in the message */
	enum outcome_action	 action;
	const char		*reply;		/* the reply or the reason */
	int			 unknown;	/* RETRY whose end is unknown: the data and
						 * its final dot went, the reply did not come
						 * (lost connection, timeout): the provider may
						 * have taken it, so it costs quota */
};

#endif
