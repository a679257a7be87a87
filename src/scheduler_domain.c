/*
 * scheduler_domain: per recipient domain pacing across accounts (see
 * scheduler_domain.h). The ledgers are quota.c's, keyed "domain:MATCH" (the file
 * SPOOL/ledger/domain_MATCH, '*' as '_'); their limits are the entry's per_hour and
 * per_day, in recipients.
 */
#include <stdlib.h>
#include <string.h>

#include "config_domains.h"
#include "log.h"
#include "quota.h"
#include "scheduler_domain.h"
#include "xmalloc.h"

struct sched_domain {
	const struct config_domain *cfg;
	struct quota	*quota;
	long		 room;		/* of the pick in progress */
	long		 picked;
	size_t		 waiting;	/* messages waiting for it (domain_wait) */
};

/* A transaction's reservation in one domain's ledger. */
struct sched_domain_res {
	char		 id[QUEUE_ID_LEN + 1];	/* the message in flight */
	size_t		 dom;
	uint64_t	 qid;
};

struct sched_domains {
	struct sched_domain	*v;
	size_t			 n;
	struct sched_domain_res	*res;
	size_t			 nres, capres;
};

/* scheduler_domain_find: the entry of d whose match is match, or d->n. */
static size_t
scheduler_domain_find(const struct sched_domains *d, const char *match)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->v[i].cfg->match, match) == 0)
			break;
	return i;
}

/* scheduler_domain_res_add: room for one more reservation; returns it. */
static struct sched_domain_res *
scheduler_domain_res_add(struct sched_domains *d)
{
	if (d->nres == d->capres) {
		d->capres = d->capres ? d->capres * 2 : 16;
		d->res = xreallocarray(d->res, d->capres, sizeof(*d->res));
	}
	return &d->res[d->nres++];
}

struct sched_domains *
scheduler_domain_new(const struct config *cfg, const struct sched_domains *old, time_t now)
{
	struct sched_domains *d = xcalloc(1, sizeof(*d));

	d->n = cfg->ndomains;
	d->v = xcalloc(d->n ? d->n : 1, sizeof(*d->v));
	for (size_t i = 0; i < d->n; i++) {
		const struct config_domain *c = &cfg->domains[i];
		char *key;

		d->v[i].cfg = c;
		if (old != NULL && scheduler_domain_find(old, c->match) < old->n)
			continue;	/* taken over from old by scheduler_domain_adopt */
		key = xasprintf("domain:%s", c->match);
		d->v[i].quota = quota_open(cfg->spool_dir, key, NULL, 1, now);
		free(key);
		if (d->v[i].quota == NULL) {
			scheduler_domain_free(d);
			return NULL;
		}
		quota_set_limits(d->v[i].quota, c->per_hour, c->per_day);
	}
	return d;
}

void
scheduler_domain_adopt(struct sched_domains *d, struct sched_domains *old)
{
	size_t j;

	for (size_t i = 0; i < d->n; i++) {
		if (d->v[i].quota != NULL ||
		    (j = scheduler_domain_find(old, d->v[i].cfg->match)) == old->n)
			continue;
		d->v[i].quota = old->v[j].quota;
		old->v[j].quota = NULL;
		if (d->v[i].cfg->per_hour != old->v[j].cfg->per_hour ||
		    d->v[i].cfg->per_day != old->v[j].cfg->per_day)
			log_info("domain=%s per_hour=%d per_day=%d (reload; was %d and %d)",
			    d->v[i].cfg->match, d->v[i].cfg->per_hour, d->v[i].cfg->per_day,
			    old->v[j].cfg->per_hour, old->v[j].cfg->per_day);
		quota_set_limits(d->v[i].quota, d->v[i].cfg->per_hour, d->v[i].cfg->per_day);
	}
	/* Transactions in flight settle in the ledger that stays; one whose domain is
	 * gone keeps its reservation in full, on disk. */
	for (size_t k = 0; k < old->nres; k++) {
		size_t i = scheduler_domain_find(d, old->v[old->res[k].dom].cfg->match);
		struct sched_domain_res *r;

		if (i == d->n)
			continue;
		r = scheduler_domain_res_add(d);
		*r = old->res[k];
		r->dom = i;
	}
	scheduler_domain_free(old);
}

void
scheduler_domain_free(struct sched_domains *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		quota_free(d->v[i].quota);
	free(d->v);
	free(d->res);
	free(d);
}

int
scheduler_domain_of(const struct sched_domains *d, const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL)
		return -1;
	for (size_t i = 0; i < d->n; i++)
		if (config_domain_match(d->v[i].cfg, at + 1))
			return (int)i;
	return -1;
}

double
scheduler_domain_wait(const struct sched_domains *d, const struct queue_msg *m, double now,
    int *entry)
{
	double when = 0;
	int k;

	if (entry != NULL)
		*entry = -1;
	if (d->n == 0)
		return 0;
	for (size_t i = 0; i < m->nrcpt; i++) {
		time_t t;

		if (m->rcpts[i].state != QUEUE_RCPT_PENDING)
			continue;
		if ((k = scheduler_domain_of(d, m->rcpts[i].addr)) == -1 ||
		    (t = quota_next_free(d->v[k].quota, (time_t)now, 1)) <= (time_t)now)
			return 0;
		if (when == 0 || (double)t < when) {
			when = (double)t;
			if (entry != NULL)
				*entry = k;
		}
	}
	return when;
}

void
scheduler_domain_set_waiting(struct sched_domains *d, struct queue_msg *m, int entry)
{
	if (m->domain_wait > 0 && (size_t)m->domain_wait <= d->n)
		d->v[m->domain_wait - 1].waiting--;
	m->domain_wait = entry + 1;
	if (m->domain_wait > 0)
		d->v[entry].waiting++;
}

size_t
scheduler_domain_pick(struct sched_domains *d, struct queue_msg *m, double now, size_t max)
{
	size_t n = 0;
	int k;

	for (size_t i = 0; i < d->n; i++) {
		d->v[i].room = quota_room(d->v[i].quota, (time_t)now);
		d->v[i].picked = 0;
	}
	for (size_t i = 0; i < m->nrcpt; i++) {
		struct queue_rcpt *r = &m->rcpts[i];

		r->later = 1;
		if (r->state != QUEUE_RCPT_PENDING || n == max)
			continue;
		if ((k = d->n ? scheduler_domain_of(d, r->addr) : -1) != -1) {
			if (d->v[k].picked >= d->v[k].room)
				continue;	/* its domain is full: a later transaction */
			d->v[k].picked++;
		}
		r->later = 0;
		n++;
	}
	return n;
}

int
scheduler_domain_reserve(struct sched_domains *d, const struct queue_msg *m, time_t now)
{
	size_t first = d->nres;

	for (size_t i = 0; i < d->n; i++) {
		struct sched_domain_res *r;
		uint64_t qid;

		if (d->v[i].picked == 0)
			continue;
		if ((qid = quota_reserve(d->v[i].quota, now, d->v[i].picked)) == 0) {
			while (d->nres > first) {	/* undo: nothing goes */
				r = &d->res[--d->nres];
				quota_settle(d->v[r->dom].quota, r->qid, 0, now);
			}
			return -1;
		}
		r = scheduler_domain_res_add(d);
		*r = (struct sched_domain_res){ .dom = i, .qid = qid };
		memcpy(r->id, m->id, sizeof(m->id));
	}
	return 0;
}

void
scheduler_domain_settle(struct sched_domains *d, const struct queue_msg *m,
    const struct sched_rcpt_result *res, size_t n, time_t now)
{
	for (size_t k = 0; k < d->nres; ) {
		struct sched_domain_res *r = &d->res[k];
		long took = 0;

		if (strcmp(r->id, m->id) != 0) {
			k++;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			if ((res[i].action == OUTCOME_SENT || res[i].unknown) &&
			    scheduler_domain_of(d, m->rcpts[res[i].idx].addr) == (int)r->dom)
				took++;
		quota_settle(d->v[r->dom].quota, r->qid, took, now);
		d->res[k] = d->res[--d->nres];
	}
}

const char *
scheduler_domain_match(const struct sched_domains *d, size_t i)
{
	return d->v[i].cfg->match;
}

size_t
scheduler_domain_count(const struct sched_domains *d)
{
	return d->n;
}

time_t
scheduler_domain_used(const struct sched_domains *d, size_t i, time_t now,
    const struct config_domain **cfg, long *hour, long *day, size_t *waiting)
{
	*cfg = d->v[i].cfg;
	*waiting = d->v[i].waiting;
	quota_used(d->v[i].quota, now, hour, day);
	return quota_next_free(d->v[i].quota, now, 1);
}
