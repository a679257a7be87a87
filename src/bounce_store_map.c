/*
 * bounce_store_map: a chained hash table with string keys (FNV-1a), doubled when it
 * holds as many entries as buckets, so chains stay short.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_store_map.h"
#include "xmalloc.h"

/* bounce_store_map_hash: FNV-1a. */
static size_t
bounce_store_map_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)h;
}

void *
bounce_store_map_get(const struct bounce_store_map *m, const char *key)
{
	if (m->nb == 0)
		return NULL;
	for (struct bounce_store_map_ent *e = m->b[bounce_store_map_hash(key) % m->nb]; e;
	    e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->val;
	return NULL;
}

void
bounce_store_map_put(struct bounce_store_map *m, const char *key, void *val)
{
	struct bounce_store_map_ent *e;
	size_t i;

	if (m->n >= m->nb) {	/* grow: keep chains short */
		size_t nb = m->nb ? m->nb * 2 : 64;
		struct bounce_store_map_ent **b = xcalloc(nb, sizeof(*b));

		for (i = 0; i < m->nb; i++)
			while ((e = m->b[i]) != NULL) {
				m->b[i] = e->next;
				size_t j = bounce_store_map_hash(e->key) % nb;
				e->next = b[j];
				b[j] = e;
			}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	i = bounce_store_map_hash(key) % m->nb;
	for (e = m->b[i]; e != NULL; e = e->next)
		if (strcmp(e->key, key) == 0) {
			e->val = val;
			return;
		}
	e = xmalloc(sizeof(*e));
	e->key = xstrdup(key);
	e->val = val;
	e->next = m->b[i];
	m->b[i] = e;
	m->n++;
}

void
bounce_store_map_clear(struct bounce_store_map *m, void (*freeval)(void *))
{
	struct bounce_store_map_ent *e;

	for (size_t i = 0; i < m->nb; i++)
		while ((e = m->b[i]) != NULL) {
			m->b[i] = e->next;
			if (freeval != NULL)
				freeval(e->val);
			free(e->key);
			free(e);
		}
	free(m->b);
	memset(m, 0, sizeof(*m));
}
