/*
 * scheduler_heap: the binary min-heap of waiting messages (see scheduler_heap.h).
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "scheduler_heap.h"
#include "xmalloc.h"

/*
 * scheduler_heap_before: earlier next_try first; at the same second the lower queue
 * id, which begins with the arrival second in hex and ends with a per-run sequence
 * number (queue.c), so ties come out in arrival order, not last in first out.
 */
int
scheduler_heap_before(const struct queue_msg *a, const struct queue_msg *b)
{
	if (a->next_try != b->next_try)
		return a->next_try < b->next_try;
	return strcmp(a->id, b->id) < 0;
}

static void
scheduler_heap_set(struct scheduler_heap *h, size_t i, struct queue_msg *m)
{
	h->v[i] = m;
	m->sched_index = i;
}

static void
scheduler_heap_up(struct scheduler_heap *h, size_t i)
{
	struct queue_msg *m = h->v[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!scheduler_heap_before(m, h->v[p]))
			break;
		scheduler_heap_set(h, i, h->v[p]);
		i = p;
	}
	scheduler_heap_set(h, i, m);
}

static void
scheduler_heap_down(struct scheduler_heap *h, size_t i)
{
	struct queue_msg *m = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && scheduler_heap_before(h->v[c + 1], h->v[c]))
			c++;
		if (!scheduler_heap_before(h->v[c], m))
			break;
		scheduler_heap_set(h, i, h->v[c]);
		i = c;
	}
	scheduler_heap_set(h, i, m);
}

void
scheduler_heap_push(struct scheduler_heap *h, struct queue_msg *m)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	h->v[h->n] = m;
	h->ntried += m->attempts > 0;
	scheduler_heap_up(h, h->n++);
}

void
scheduler_heap_remove(struct scheduler_heap *h, struct queue_msg *m)
{
	size_t i = m->sched_index;
	struct queue_msg *last = h->v[--h->n];

	h->ntried -= m->attempts > 0;
	m->sched_index = (size_t)-1;
	if (i == h->n)
		return;
	scheduler_heap_set(h, i, last);
	scheduler_heap_down(h, i);
	scheduler_heap_up(h, last->sched_index);
}

struct queue_msg *
scheduler_heap_top(const struct scheduler_heap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

void
scheduler_heap_rebuild(struct scheduler_heap *h)
{
	for (size_t i = h->n / 2; i-- > 0;)
		scheduler_heap_down(h, i);
}

void
scheduler_heap_free(struct scheduler_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = h->ntried = 0;
}
