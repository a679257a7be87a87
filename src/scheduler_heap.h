/*
 * scheduler_heap: the waiting room of the scheduler, a binary min-heap of queued
 * messages ordered by when each may next be attempted, and among messages ready at
 * the same second by their queue id, which is their order of arrival: first in,
 * first out among equals. Each message knows its slot (sched_index), so removing
 * one is O(log n). The heap only orders; it owns nothing.
 */
#ifndef RELAYD_SCHEDULER_HEAP_H
#define RELAYD_SCHEDULER_HEAP_H

#include <stddef.h>

struct queue_msg;

struct scheduler_heap {
	struct queue_msg	**v;
	size_t			 n, cap;
	size_t			 ntried;	/* of them, attempted before (attempts > 0) */
};

/* scheduler_heap_before: does a go out before b (the heap's order)? */
int		 scheduler_heap_before(const struct queue_msg *a, const struct queue_msg *b);

/* scheduler_heap_push: m waits (it must not be in the heap already). */
void		 scheduler_heap_push(struct scheduler_heap *, struct queue_msg *m);

/* scheduler_heap_remove: m, which is in the heap, leaves it. */
void		 scheduler_heap_remove(struct scheduler_heap *, struct queue_msg *m);

/* scheduler_heap_top: the message that goes first, or NULL when empty. */
struct queue_msg *scheduler_heap_top(const struct scheduler_heap *);

/* scheduler_heap_rebuild: restore the order after keys were changed in place. */
void		 scheduler_heap_rebuild(struct scheduler_heap *);

/* scheduler_heap_free: the heap's array (not the messages). */
void		 scheduler_heap_free(struct scheduler_heap *);

#endif
