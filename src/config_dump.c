/*
 * config_dump: the loaded configuration back as JSON for relayctl config, secrets
 * masked. It reads struct config only, so what it shows is what relayd uses: the
 * presets' host, port, tls, limits, learn and rules, and the defaults, filled in.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config_dump.h"
#include "events_file.h"
#include "jsonstr.h"
#include "outcome.h"
#include "sendwindow.h"
#include "xmalloc.h"

/* config_dump_str: a string or null. */
static json_t *
config_dump_str(const char *s)
{
	return s != NULL ? jsonstr_new(s) : json_null();
}

/* config_dump_secret: CONFIG_DUMP_MASK when the secret is set, else null. */
static json_t *
config_dump_secret(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(CONFIG_DUMP_MASK) : json_null();
}

/* config_dump_limit: a limit, or null for none (0). */
static json_t *
config_dump_limit(long long v)
{
	return v > 0 ? json_integer(v) : json_null();
}

/* config_dump_window: "Mon,Tue,Wed,Thu,Fri 08:00-20:00 Europe/Berlin", or null. */
static json_t *
config_dump_window(const struct sendwindow *w)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	char buf[160] = "";
	size_t used;

	if (w == NULL)
		return json_null();
	for (int d = 1; d <= 7; d++)	/* Monday first, Sunday last */
		if (w->days & (1u << (d % 7))) {
			used = strlen(buf);
			snprintf(buf + used, sizeof(buf) - used, "%s%s", used ? "," : "",
			    days[d % 7]);
		}
	used = strlen(buf);
	snprintf(buf + used, sizeof(buf) - used, " %02d:%02d-%02d:%02d %s", w->start / 60,
	    w->start % 60, w->end / 60, w->end % 60, w->zone);
	return jsonstr_new(buf);
}

/* config_dump_rules: the account's rules (its own, then its preset's). */
static json_t *
config_dump_rules(const struct config_account *a)
{
	json_t *rules = json_array();

	for (size_t i = 0; i < a->nrules; i++) {
		json_t *stages = json_array();

		for (int st = 0; st < OUTCOME_NSTAGES; st++)
			if (a->rules[i].stages & (1u << st))
				json_array_append_new(stages, json_string(outcome_stage_name(
				    (enum outcome_stage)st)));
		json_array_append_new(rules, json_pack("{s:o, s:o, s:s}", "match",
		    jsonstr_new(a->rules[i].match), "stage", stages, "action",
		    outcome_action_name(a->rules[i].action)));
	}
	return rules;
}

/* config_dump_bounces: the account's bounces group, or null. */
static json_t *
config_dump_bounces(const struct config_imap *b)
{
	if (!b->enabled)
		return json_null();
	return json_pack("{s:o, s:i, s:s, s:o, s:o, s:o, s:o, s:o, s:i}", "host",
	    config_dump_str(b->host), "port", b->port, "tls", config_tls_name(b->tls),
	    "username", config_dump_str(b->username), "password",
	    config_dump_secret(b->password), "ca_file", config_dump_str(b->ca_file), "folder",
	    config_dump_str(b->folder), "move_to", config_dump_str(b->move_to), "poll",
	    b->poll);
}

/* config_dump_oauth: the account's oauth group, or null without OAuth. */
static json_t *
config_dump_oauth(const struct config_account *a)
{
	const struct config_oauth *o = &a->oauth;

	if (a->auth == CONFIG_AUTH_PASSWORD)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "token_url",
	    config_dump_str(o->token_url), "device_url", config_dump_str(o->device_url),
	    "auth_url", config_dump_str(o->auth_url), "scope", config_dump_str(o->scope),
	    "client_id", config_dump_str(o->client_id), "client_secret",
	    config_dump_secret(o->client_secret), "token_file", config_dump_str(o->token_file),
	    "token_command", config_dump_str(o->token_command), "ca_file",
	    config_dump_str(o->ca_file));
}

/* config_dump_account: one account as relayd uses it. */
static json_t *
config_dump_account(const struct config_account *a)
{
	const struct config_limits *l = &a->limits;
	json_t *o;

	o = json_pack("{s:o, s:o, s:o, s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:i}", "name",
	    jsonstr_new(a->name), "provider", config_dump_str(a->provider), "host",
	    config_dump_str(a->host), "port", a->port, "tls", config_tls_name(a->tls), "auth",
	    config_auth_name(a->auth), "username", config_dump_str(a->username), "password",
	    config_dump_secret(a->password), "address", config_dump_str(a->address),
	    "ca_file", config_dump_str(a->ca_file), "sessions", a->sessions);
	json_object_set_new(o, "limits", json_pack("{s:o, s:o, s:s, s:i, s:i, s:I, s:b}",
	    "per_hour", config_dump_limit(l->per_hour), "per_day",
	    config_dump_limit(l->per_day), "count", l->count_recipients ? "recipients" :
	    "messages", "min_interval", l->min_interval, "max_recipients", l->max_recipients,
	    "max_message_size", (json_int_t)l->max_message_size, "spread", l->spread));
	json_object_set_new(o, "learn", a->learn.enabled ? json_pack("{s:b, s:f, s:i, s:i}",
	    "enabled", 1, "factor", a->learn.factor, "floor", a->learn.floor,
	    "recover_after", a->learn.recover_after) : json_pack("{s:b}", "enabled", 0));
	json_object_set_new(o, "warmup", a->warmup.enabled ? json_pack("{s:I, s:i, s:i}",
	    "start", (json_int_t)a->warmup.start, "from", a->warmup.from, "days",
	    a->warmup.days) : json_null());
	json_object_set_new(o, "window", config_dump_window(a->window));
	json_object_set_new(o, "backoff", json_pack("{s:i, s:i}", "initial",
	    a->backoff_initial, "max", a->backoff_max));
	json_object_set_new(o, "rules", config_dump_rules(a));
	json_object_set_new(o, "bounces", config_dump_bounces(&a->bounces));
	json_object_set_new(o, "oauth", config_dump_oauth(a));
	json_object_set_new(o, "shared", json_boolean(a->shared));
	return o;
}

/* config_dump_domains: the per recipient domain limits, in order. */
static json_t *
config_dump_domains(const struct config *cfg)
{
	json_t *v = json_array();

	for (size_t i = 0; i < cfg->ndomains; i++)
		json_array_append_new(v, json_pack("{s:o, s:o, s:o}", "match",
		    config_dump_str(cfg->domains[i].match), "per_hour",
		    config_dump_limit(cfg->domains[i].per_hour), "per_day",
		    config_dump_limit(cfg->domains[i].per_day)));
	return v;
}

/* config_dump_shared: the shared group (Redis), or null without one. */
static json_t *
config_dump_shared(const struct config_shared *sh)
{
	if (!sh->enabled)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:s, s:i}", "redis", config_dump_str(sh->redis),
	    "password", config_dump_secret(sh->password), "prefix", config_dump_str(sh->prefix),
	    "on_unavailable", sh->on_unavailable == CONFIG_SHARED_STOP ? "stop" : "local_share",
	    "peers", sh->peers);
}

/* config_dump_events: the events group, or null without one. */
static json_t *
config_dump_events(const struct config_events *e)
{
	json_t *types = json_array();

	if (!e->enabled) {
		json_decref(types);
		return json_null();
	}
	for (int t = 0; t < EVENTS_NTYPES; t++)
		if (e->types & (1u << t))
			json_array_append_new(types, json_string(events_file_type_name(
			    (enum events_type)t)));
	return json_pack("{s:o, s:o, s:o, s:o, s:i, s:i, s:o}", "webhook",
	    config_dump_str(e->webhook), "secret", config_dump_secret(e->secret), "types",
	    types, "ca_file", config_dump_str(e->ca_file), "batch", e->batch, "keep", e->keep,
	    "dsn_to", config_dump_str(e->dsn_to));
}

/* config_dump_allow: allow_networks as "ADDR/PREFIX" strings. */
static json_t *
config_dump_allow(const struct config *cfg)
{
	json_t *nets = json_array();
	char addr[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];

	for (size_t i = 0; i < cfg->nallow; i++) {
		if (inet_ntop(cfg->allow[i].family, cfg->allow[i].addr, addr, sizeof(addr)) ==
		    NULL)
			continue;
		snprintf(buf, sizeof(buf), "%s/%d", addr, cfg->allow[i].prefix);
		json_array_append_new(nets, json_string(buf));
	}
	return nets;
}

json_t *
config_dump(const struct config *cfg)
{
	static const char *const levels[] = { [LOG_ERR] = "error", [LOG_WARNING] = "warning",
	    [LOG_INFO] = "info", [LOG_DEBUG] = "debug" };
	json_t *o = json_object(), *listen = json_array(), *accts = json_array();
	const char *level = cfg->log_level >= 0 && cfg->log_level <= LOG_DEBUG &&
	    levels[cfg->log_level] ? levels[cfg->log_level] : "info";

	for (size_t i = 0; i < cfg->nlisten; i++)
		json_array_append_new(listen, jsonstr_new(cfg->listen[i]));
	for (size_t i = 0; i < cfg->naccounts; i++)
		json_array_append_new(accts, config_dump_account(&cfg->accounts[i]));
	json_object_set_new(o, "config", config_dump_str(cfg->path));
	json_object_set_new(o, "listen", listen);
	json_object_set_new(o, "spool_dir", config_dump_str(cfg->spool_dir));
	json_object_set_new(o, "control_socket", config_dump_str(cfg->control_socket));
	json_object_set_new(o, "hostname", config_dump_str(cfg->hostname));
	json_object_set_new(o, "max_message_size", json_integer((json_int_t)
	    cfg->max_message_size));
	json_object_set_new(o, "max_clients", json_integer(cfg->max_clients));
	json_object_set_new(o, "max_clients_per_address", json_integer(
	    cfg->max_clients_per_address));
	json_object_set_new(o, "max_session_time", json_integer(cfg->max_session_time));
	json_object_set_new(o, "max_recipients", json_integer(cfg->max_recipients));
	json_object_set_new(o, "log", json_string(cfg->log_syslog ? "syslog" : "stderr"));
	json_object_set_new(o, "log_level", json_string(level));
	json_object_set_new(o, "user", config_dump_str(cfg->user));
	json_object_set_new(o, "control_group", config_dump_str(cfg->control_group));
	json_object_set_new(o, "metrics_listen", config_dump_str(cfg->metrics_listen));
	json_object_set_new(o, "tls_cert", config_dump_str(cfg->tls_cert));
	json_object_set_new(o, "tls_key", config_dump_str(cfg->tls_key));
	json_object_set_new(o, "auth_users", config_dump_str(cfg->auth_users));
	json_object_set_new(o, "allow_networks", config_dump_allow(cfg));
	json_object_set_new(o, "retry", json_pack("{s:i, s:i, s:i}", "initial",
	    cfg->retry_initial, "max", cfg->retry_max, "lifetime", cfg->retry_lifetime));
	json_object_set_new(o, "suppress", json_pack("{s:b, s:i}", "hard", cfg->suppress_hard,
	    "soft_after", cfg->suppress_soft_after));
	json_object_set_new(o, "events", config_dump_events(&cfg->events));
	json_object_set_new(o, "domains", config_dump_domains(cfg));
	json_object_set_new(o, "shared", config_dump_shared(&cfg->shared));
	json_object_set_new(o, "accounts", accts);
	return o;
}

/* config_dump_scalar: a leaf's value as text (strings as they are). */
static void
config_dump_scalar(json_t *v, FILE *fp)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), fp);
		return;
	}
	if (json_is_null(v))
		return;		/* "key =": not set */
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputs(s ? s : "", fp);
	free(s);
}

void
config_dump_lines(json_t *v, const char *prefix, FILE *fp)
{
	const char *key;
	json_t *e;
	size_t i;
	int scalars = 1;

	if (json_is_object(v)) {
		json_object_foreach(v, key, e) {
			char *p = prefix[0] ? xasprintf("%s.%s", prefix, key) : NULL;

			config_dump_lines(e, p ? p : key, fp);
			free(p);
		}
		return;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			scalars &= !json_is_object(e) && !json_is_array(e);
		if (!scalars) {
			json_array_foreach(v, i, e) {
				const char *name = json_string_value(json_object_get(e, "name"));
				char idx[24];

				snprintf(idx, sizeof(idx), "%zu", i);
				char *p = xasprintf("%s.%s", prefix, name ? name : idx);

				config_dump_lines(e, p, fp);
				free(p);
			}
			return;
		}
		fprintf(fp, "%s =", prefix);
		json_array_foreach(v, i, e) {
			fputs(i ? ", " : " ", fp);
			config_dump_scalar(e, fp);
		}
		fputc('\n', fp);
		return;
	}
	fprintf(fp, "%s =%s", prefix, json_is_null(v) ? "" : " ");
	config_dump_scalar(v, fp);
	fputc('\n', fp);
}
