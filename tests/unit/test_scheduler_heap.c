/*
 * test_scheduler_heap: the waiting room's order: earliest next attempt first, and
 * first in, first out among messages ready in the same second (issue 13, item 4:
 * ties used to come out last in, first out, and new mail, keyed 0, overtook mail
 * deferred earlier without bound).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "scheduler_heap.h"
#include "t.h"

#define N	200

static struct queue_msg msgs[N];

/* msg: message i arrived at second t with the run's sequence number i, due at next. */
static struct queue_msg *
msg(int i, time_t arrived, time_t next)
{
	struct queue_msg *m = &msgs[i];

	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%08X%08X", (unsigned)arrived, (unsigned)i + 1);
	m->next_try = next;
	m->sched_index = (size_t)-1;
	return m;
}

/* drain: pop everything, checking the heap's order; returns the order in out. */
static void
drain(struct scheduler_heap *h, int *out, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		struct queue_msg *m = scheduler_heap_top(h);

		CHECK(m != NULL, "heap empty after %zu of %zu", k, n);
		if (m == NULL)
			return;
		out[k] = (int)(m - msgs);
		scheduler_heap_remove(h, m);
	}
	CHECK(scheduler_heap_top(h) == NULL, "heap not empty after %zu", n);
}

int
main(void)
{
	struct scheduler_heap h = { 0 };
	int order[N];

	/* Eight messages in the same second come out as they came in (1, 2, ... 8). */
	for (int i = 0; i < 8; i++)
		scheduler_heap_push(&h, msg(i, 1000, 1000));
	drain(&h, order, 8);
	for (int i = 0; i < 8; i++)
		CHECK(order[i] == i, "same second: position %d has message %d", i, order[i]);

	/* A message deferred until 1005 goes before new ones arriving from 1005 on. */
	scheduler_heap_push(&h, msg(0, 900, 1005));
	for (int i = 1; i < 6; i++)
		scheduler_heap_push(&h, msg(i, 1003 + (time_t)i, 1003 + (time_t)i));
	drain(&h, order, 6);
	static const int want[] = { 1, 0, 2, 3, 4, 5 };
	for (int i = 0; i < 6; i++)
		CHECK(order[i] == want[i], "deferred mail waits only "
		    "for older: position %d has message %d", i, order[i]);

	/* Random keys, removals from the middle: the order holds; ties by arrival. */
	srand(13);
	for (int round = 0; round < 50; round++) {
		size_t n = 0;

		for (int i = 0; i < N; i++)
			scheduler_heap_push(&h, msg(i, 2000 + rand() % 5, 3000 + rand() % 4));
		for (int i = 0; i < N; i += 7)	/* held or deleted while waiting */
			scheduler_heap_remove(&h, &msgs[i]);
		for (int i = 0; i < N; i++)
			n += i % 7 != 0;
		drain(&h, order, n);
		for (size_t k = 1; k < n; k++)
			CHECK(!scheduler_heap_before(&msgs[order[k]], &msgs[order[k - 1]]),
			    "round %d: %d came out before %d", round, order[k - 1], order[k]);
	}
	CHECK(h.ntried == 0, "ntried %zu", h.ntried);
	scheduler_heap_free(&h);
	T_DONE();
}
