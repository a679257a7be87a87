/*
 * config_shared: the "shared" group (the Redis server several relayd hosts keep the
 * shared accounts' ledgers and suspensions in) and the accounts' "shared" flags.
 *
 *   shared = {
 *     redis = "redis://127.0.0.1:6379/0";   # or "unix:/run/redis/redis.sock"
 *     password_file = "/etc/relayd/redis.secret";   # optional: AUTH
 *     prefix = "relayd:";
 *     on_unavailable = "local_share";      # or "stop"
 *     peers = 3;
 *   };
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_shared.h"
#include "xmalloc.h"

static const char *config_shared_keys[] = {
	"redis", "password_file", "prefix", "on_unavailable", "peers", NULL
};

int
config_shared_url(const char *url, struct config_shared *s, char *err, size_t errlen)
{
	const char *p, *end;
	char *stop;
	long v;

	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/') {
			snprintf(err, errlen, "\"%s\": a unix socket is unix:/ABSOLUTE/PATH", url);
			return -1;
		}
		s->unix_path = xstrdup(url + 5);
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0) {
		snprintf(err, errlen, "\"%s\" is not a Redis address (allowed: "
		    "\"redis://HOST:PORT/DB\" or \"unix:/PATH\")", url);
		return -1;
	}
	p = url + 8;
	if (strchr(p, '@') != NULL) {
		snprintf(err, errlen, "no user or password in the address: use password_file");
		return -1;
	}
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL || end == p + 1) {
			snprintf(err, errlen, "\"%s\": an IPv6 address is [ADDRESS]", url);
			return -1;
		}
		s->host = xstrndup(p + 1, (size_t)(end - p - 1));
		p = end + 1;
	} else {
		end = p + strcspn(p, ":/");
		if (end == p) {
			snprintf(err, errlen, "\"%s\": no host", url);
			return -1;
		}
		s->host = xstrndup(p, (size_t)(end - p));
		p = end;
	}
	s->port = 6379;
	s->db = 0;
	if (*p == ':') {
		errno = 0;
		v = strtol(p + 1, &stop, 10);
		if (stop == p + 1 || errno != 0 || v < 1 || v > 65535 || (*stop && *stop != '/')) {
			snprintf(err, errlen, "\"%s\": the port is 1 .. 65535", url);
			goto fail;
		}
		s->port = (int)v;
		p = stop;
	}
	if (*p == '/' && p[1] != '\0') {
		errno = 0;
		v = strtol(p + 1, &stop, 10);
		if (stop == p + 1 || errno != 0 || v < 0 || v > 1000000 || *stop != '\0') {
			snprintf(err, errlen, "\"%s\": the database is a number (/0)", url);
			goto fail;
		}
		s->db = (int)v;
	} else if (*p != '\0' && strcmp(p, "/") != 0) {
		snprintf(err, errlen, "\"%s\": nothing may follow the database number", url);
		goto fail;
	}
	return 0;
fail:
	free(s->host);
	s->host = NULL;
	return -1;
}

/* config_shared_group: the "shared" group g itself. */
static void
config_shared_group(struct config_ctx *ctx, const config_setting_t *g, struct config_shared *s)
{
	const config_setting_t *m;
	char err[256];
	const char *v;
	int i;

	if (!config_setting_is_group(g)) {
		config_error(ctx, g, "must be a group { redis = \"redis://127.0.0.1:6379/0\"; ... }");
		return;
	}
	for (i = 0; i < config_setting_length(g); i++) {
		const char *name = config_setting_name(config_setting_get_elem(g, i));
		int j;

		for (j = 0; config_shared_keys[j] != NULL; j++)
			if (strcmp(config_shared_keys[j], name) == 0)
				break;
		if (config_shared_keys[j] == NULL)
			config_error(ctx, config_setting_get_elem(g, i), "unknown key (allowed here: "
			    "redis, password_file, prefix, on_unavailable, peers)");
	}
	s->enabled = 1;
	s->prefix = xstrdup("relayd:");
	s->on_unavailable = CONFIG_SHARED_LOCAL_SHARE;
	for (i = 0; config_shared_keys[i] != NULL; i++) {
		const char *key = config_shared_keys[i];

		if ((m = config_setting_get_member(g, key)) == NULL)
			continue;
		if (strcmp(key, "peers") == 0) {
			if (config_setting_type(m) != CONFIG_TYPE_INT ||
			    config_setting_get_int(m) < 1 || config_setting_get_int(m) > 1000)
				config_error(ctx, m, "must be a whole number (1 .. 1000): how many relayd "
				    "hosts share the accounts");
			else
				s->peers = config_setting_get_int(m);
			continue;
		}
		if (config_setting_type(m) != CONFIG_TYPE_STRING ||
		    *(v = config_setting_get_string(m)) == '\0') {
			config_error(ctx, m, "must be a non-empty string in double quotes");
			continue;
		}
		if (strcmp(key, "redis") == 0) {
			s->redis = xstrdup(v);
			if (config_shared_url(v, s, err, sizeof(err)) == -1)
				config_error(ctx, m, "%s", err);
		} else if (strcmp(key, "password_file") == 0)
			s->password = config_read_secret(ctx, m, v);
		else if (strcmp(key, "prefix") == 0) {
			free(s->prefix);
			s->prefix = xstrdup(v);
			if (strpbrk(v, " \t\r\n") != NULL)
				config_error(ctx, m, "no spaces in a key prefix");
		} else if (strcmp(v, "local_share") == 0)
			s->on_unavailable = CONFIG_SHARED_LOCAL_SHARE;
		else if (strcmp(v, "stop") == 0)
			s->on_unavailable = CONFIG_SHARED_STOP;
		else
			config_error(ctx, m, "\"%s\" is not a choice (allowed: \"local_share\", "
			    "\"stop\")", v);
	}
	if (config_setting_get_member(g, "redis") == NULL)
		config_error(ctx, g, "redis: missing (required): \"redis://HOST:PORT/DB\" or "
		    "\"unix:/PATH\"");
	if (s->on_unavailable == CONFIG_SHARED_LOCAL_SHARE && s->peers == 0 &&
	    config_setting_get_member(g, "peers") == NULL)
		config_error(ctx, g, "peers: missing (required with on_unavailable = \"local_share\": "
		    "each host sends at most limit/peers while Redis is away)");
}

void
config_shared(struct config_ctx *ctx, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "shared");
	const config_setting_t *list = config_setting_get_member(root, "accounts");

	if (g != NULL)
		config_shared_group(ctx, g, &c->shared);
	for (size_t i = 0; i < c->naccounts && list != NULL; i++) {
		const config_setting_t *a = config_setting_get_elem(list, (unsigned)i);
		const config_setting_t *m = a ? config_setting_get_member(a, "shared") : NULL;
		struct config_account *ca = &c->accounts[i];

		if (m == NULL)
			continue;
		if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
			config_error(ctx, m, "must be true or false");
			continue;
		}
		if (!(ca->shared = config_setting_get_bool(m)))
			continue;
		if (g == NULL)
			config_error(ctx, m, "needs the top-level shared group (shared = { redis = "
			    "\"redis://127.0.0.1:6379/0\"; ... })");
		else if (ca->limits.per_hour == 0 && ca->limits.per_day == 0)
			config_error(ctx, m, "a shared account shares its limits: set limits.per_hour "
			    "or limits.per_day");
	}
}

void
config_shared_free(struct config_shared *s)
{
	free(s->redis);
	free(s->host);
	free(s->unix_path);
	if (s->password != NULL)
		explicit_bzero(s->password, strlen(s->password));
	free(s->password);
	free(s->prefix);
}
