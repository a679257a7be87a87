/*
 * config_int: the config module's private parts, shared by config.c (the file and its
 * top-level keys), config_account.c (one account) and config_value.c (typed values
 * and how a problem is reported). Nothing else includes this.
 */
#ifndef RELAYD_CONFIG_INT_H
#define RELAYD_CONFIG_INT_H

#include <stdio.h>

#include <libconfig.h>

#include "config.h"

/* One reading of a file: where problems go and how many there were. */
struct config_ctx {
	const char	*path;
	FILE		*err;		/* where problems are reported */
	int		 errors;
	int		 lastline;	/* where a missing top-level key would go */
	const config_setting_t *listen_public;	/* a non-loopback listen entry */
};

/* config_error: report one problem with a setting (or a missing top-level one). */
void	config_error(struct config_ctx *, const config_setting_t *, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* config_warning: report a problem that does not stop relayd, as config_error does. */
void	config_warning(struct config_ctx *, const config_setting_t *, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* config_check_keys: every member of group g must be one of allowed (NULL-terminated). */
void	config_check_keys(struct config_ctx *, const config_setting_t *g,
	    const char **allowed);
/* config_missing: report that group g lacks the required key. */
void	config_missing(struct config_ctx *, const config_setting_t *g, const char *key);
/* config_str: a string member; *out untouched when absent. Returns 1 if present. */
int	config_str(struct config_ctx *, const config_setting_t *g, const char *key,
	    char **out, int required);
/* config_int: an integer member within [min, max]; *out untouched when absent. */
void	config_int(struct config_ctx *, const config_setting_t *g, const char *key,
	    long long min, long long max, long long *out);
/* config_bool: a true/false member; *out untouched when absent. */
void	config_bool(struct config_ctx *, const config_setting_t *g, const char *key,
	    int *out);
/* config_is_hostname: an RFC 1123 host name (or, with addr, an address)? */
int	config_is_hostname(const char *s, int addr);
/* config_is_filename: safe as one file name in the spool? */
int	config_is_filename(const char *s);
/* config_host: report group g's "host" (given as host) unless a host name or address. */
void	config_host(struct config_ctx *, const config_setting_t *g, const char *host);
/* config_is_loopback: is host a loopback name or address literal? */
int	config_is_loopback(const char *host);
/* config_read_secret: the first line of a password file only its owner may read. */
char	*config_read_secret(struct config_ctx *, const config_setting_t *s, const char *file);

/* config_account: check and fill one entry of the accounts list (config_account.c). */
void	config_account(struct config_ctx *, const config_setting_t *g,
	    struct config_account *a, const struct config *c);

/*
 * config_shared (config_shared.c): fill c->shared from the top-level "shared" group of
 * root and each account's shared flag (c->accounts already read). Defaults: prefix
 * "relayd:", on_unavailable "local_share" (which needs peers). An account with shared =
 * true needs the group and per_hour or per_day limits; the group without any shared
 * account is accepted (a host may join later).
 */
void	config_shared(struct config_ctx *, const config_setting_t *root, struct config *c);

/* config_shared_free: the strings of s (the secret wiped); s itself is not freed. */
void	config_shared_free(struct config_shared *s);

#endif
