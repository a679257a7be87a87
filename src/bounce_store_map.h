/*
 * bounce_store_map: the string-keyed hash tables of the bounce store (addresses,
 * Message-IDs, notification keys): chained, grown as they fill, never shrunk. Keys
 * are copied; values are borrowed (the caller owns them).
 */
#ifndef RELAYD_BOUNCE_STORE_MAP_H
#define RELAYD_BOUNCE_STORE_MAP_H

#include <stddef.h>

struct bounce_store_map_ent {
	char				*key;
	void				*val;
	struct bounce_store_map_ent	*next;
};

/* A table; all zeroes is an empty one. Walk it through b[0..nb) and each chain. */
struct bounce_store_map {
	struct bounce_store_map_ent	**b;
	size_t				 nb, n;
};

/* bounce_store_map_get: the value under key, or NULL. */
void	*bounce_store_map_get(const struct bounce_store_map *, const char *key);

/* bounce_store_map_put: set key to val, replacing an earlier value (not freed). */
void	 bounce_store_map_put(struct bounce_store_map *, const char *key, void *val);

/* bounce_store_map_clear: empty the table, freeing each value with freeval (or not, NULL). */
void	 bounce_store_map_clear(struct bounce_store_map *, void (*freeval)(void *));

#endif
