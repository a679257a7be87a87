/*
 * queue_ctl: the control commands that look at and change the queue: queue-list,
 * queue-show, queue-hold, queue-release, queue-delete and flush (relayctl queue ...).
 */
#ifndef RELAYD_QUEUE_CTL_H
#define RELAYD_QUEUE_CTL_H

struct control;
struct scheduler;

/* queue_ctl_register: add the queue commands, working on s, to c. */
void	queue_ctl_register(struct control *c, struct scheduler *s);

#endif
