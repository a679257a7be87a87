/*
 * queue_ctl: the control commands that look at and change the queue: queue-list,
 * queue-show, queue-hold, queue-release, queue-delete and flush (relayctl queue ...).
 * Errors are of control.h's kinds: an unknown id is nouser, bad arguments dataerr.
 */
#ifndef RELAYD_QUEUE_CTL_H
#define RELAYD_QUEUE_CTL_H

#include <time.h>

#include <jansson.h>

struct control;
struct queue_msg;
struct scheduler;

/*
 * queue_ctl_matches: does m match every filter given (NULL: none): one of its
 * recipients is recipient, one of them is at domain, its sender is sender? Addresses
 * and domains compare without case (postsuper's habit; local parts rarely differ).
 */
int	queue_ctl_matches(const struct queue_msg *m, const char *recipient,
	    const char *domain, const char *sender);

/* queue_ctl_register: add the queue commands, working on s, to c. */
void	queue_ctl_register(struct control *c, struct scheduler *s);

/*
 * queue_ctl_why: why m waits, for people, into buf ("" when nothing holds it: it
 * goes in turn): in flight; held; deferred with its last reply and when it is retried
 * (next, a wall time; 0: due); or, when due, what keeps every account from taking it
 * ("quota: main and spare exhausted, next free in 56m", throttled, cannot connect,
 * "main outside window until 08:00 Europe/Berlin", "spare disabled: 535 ..."), from
 * accounts, relayctl status's "accounts".
 * now is the wall clock.
 */
void	queue_ctl_why(const struct queue_msg *m, json_t *accounts, time_t now, time_t next,
	    char *buf, size_t len);

#endif
