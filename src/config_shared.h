/*
 * config_shared: the "shared" group of relay.conf (several relayd hosts sharing the
 * accounts' ledgers and suspensions through Redis, shared.c) and each account's
 * "shared" flag. config.c calls config_shared once the accounts are read; problems
 * go through config.c's own reporting, as "FILE:LINE: key: problem".
 */
#ifndef RELAYD_CONFIG_SHARED_H
#define RELAYD_CONFIG_SHARED_H

#include <libconfig.h>

#include "config.h"

struct config_ctx;

/* How config.c reports a problem and reads a secret file (its config_error and
 * config_read_secret). */
typedef void	 config_shared_error_fn(struct config_ctx *, const config_setting_t *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
typedef char	*config_shared_secret_fn(struct config_ctx *, const config_setting_t *,
		    const char *);

/*
 * config_shared: fill c->shared from the top-level "shared" group of root and each
 * account's shared flag (c->accounts already read). Defaults: prefix "relayd:",
 * on_unavailable "local_share" (which needs peers). An account with shared = true needs the
 * group and per_hour or per_day limits; the group without any shared account is
 * accepted (a host may join later).
 */
void		 config_shared(struct config_ctx *, const config_setting_t *root,
		    struct config *c, config_shared_error_fn *, config_shared_secret_fn *);

/*
 * config_shared_url: parse a Redis address into s: "redis://HOST[:PORT][/DB]"
 * (port 6379, db 0 by default; [v6] in brackets) or "unix:/PATH". Pure. Returns 0,
 * or -1 with what is wrong in err.
 */
int		 config_shared_url(const char *url, struct config_shared *s, char *err,
		    size_t errlen);

/* config_shared_free: the strings of s (the secret wiped); s itself is not freed. */
void		 config_shared_free(struct config_shared *s);

#endif
