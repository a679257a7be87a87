/*
 * scheduler_id: the id table, every message the scheduler owns found by its queue id
 * (chained hashing, grown to keep at most one message a slot on average).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"
#include "scheduler_int.h"
#include "xmalloc.h"

/* scheduler_id_slot: the chain of id (FNV-1a, the table's size a power of 2). */
static size_t
scheduler_id_slot(const struct scheduler *s, const char *id)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h & (s->idcap - 1);
}

void
scheduler_id_insert(struct scheduler *s, struct queue_msg *m)
{
	if (s->nids >= s->idcap) {	/* grow: load factor at most 1 */
		struct queue_msg **old = s->ids;
		size_t oldcap = s->idcap;

		s->idcap = s->idcap ? s->idcap * 2 : 1024;
		s->ids = xcalloc(s->idcap, sizeof(*s->ids));
		for (size_t i = 0; i < oldcap; i++)
			for (struct queue_msg *e = old[i], *next; e != NULL; e = next) {
				size_t slot = scheduler_id_slot(s, e->id);

				next = e->hnext;
				e->hnext = s->ids[slot];
				s->ids[slot] = e;
			}
		free(old);
	}
	size_t slot = scheduler_id_slot(s, m->id);
	m->hnext = s->ids[slot];
	s->ids[slot] = m;
	s->nids++;
}

void
scheduler_id_remove(struct scheduler *s, struct queue_msg *m)
{
	struct queue_msg **pp = &s->ids[scheduler_id_slot(s, m->id)];

	for (; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == m) {
			*pp = m->hnext;
			s->nids--;
			return;
		}
}

struct queue_msg *
scheduler_find(struct scheduler *s, const char *id)
{
	if (s->idcap == 0)
		return NULL;
	for (struct queue_msg *m = s->ids[scheduler_id_slot(s, id)]; m; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

void
scheduler_foreach(struct scheduler *s, void (*fn)(struct queue_msg *, void *), void *arg)
{
	for (size_t i = 0; i < s->idcap; i++)
		for (struct queue_msg *m = s->ids[i]; m != NULL; m = m->hnext)
			fn(m, arg);
}
