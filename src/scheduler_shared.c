/*
 * scheduler_shared: how the scheduler asks all hosts' ledger (Redis, shared_ledger.c)
 * before a shared account carries a transaction.
 */
#include "clock.h"
#include "planner.h"
#include "scheduler.h"
#include "scheduler_heap.h"
#include "scheduler_int.h"
#include "shared_ledger.h"

/* scheduler_shared_take: see scheduler_int.h. */
size_t
scheduler_shared_take(struct scheduler *s, struct sched_account *a, struct queue_msg *m,
    size_t n)
{
	struct planner_limits e;
	long g;

	planner_effective(a->cfg, &a->learned, clock_now(), &e);
	if ((g = shared_ledger_acquire(a->shared, scheduler_account_units(a, n), e.per_hour,
	    e.per_day)) < 0)
		return n;
	if (g == 0) {
		scheduler_heap_push(&s->wait, m);
		return 0;
	}
	if (a->cfg->limits.count_recipients && (long)n > g)
		n = (size_t)g;
	return n;
}
