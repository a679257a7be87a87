/*
 * bounce_store: placeholder until the bounce work lands: remembers nothing and
 * suppresses nothing.
 */
#include <stdlib.h>

#include "bounce_store.h"
#include "xmalloc.h"

struct bounce_store {
	int	unused;
};

struct bounce_store *
bounce_store_open(struct event_base *base, struct config *cfg, struct control *ctl)
{
	return xcalloc(1, sizeof(struct bounce_store));
}

void
bounce_store_close(struct bounce_store *b)
{
	free(b);
}

void
bounce_store_sent(struct bounce_store *b, const struct queue_msg *m, size_t idx,
    const char *account)
{
}

int
bounce_store_suppressed(struct bounce_store *b, const char *addr, char *why, size_t whylen)
{
	return 0;
}
