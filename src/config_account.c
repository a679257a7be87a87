/*
 * config_account: one entry of relay.conf's accounts list (part of the config module,
 * config_int.h): server, TLS, login, its provider preset under what the account sets,
 * limits, learning, warm-up, send window, reply rules, OAuth and the bounces mailbox.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libconfig.h>
#include <pwd.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/util.h>

#include "config.h"
#include "config_int.h"
#include "log.h"
#include "preset.h"
#include "sendwindow.h"
#include "xmalloc.h"

static const char *config_account_keys[] = {
	"name", "host", "port", "tls", "username", "password", "password_file",
	"address", "ca_file", "sessions", "bounces", "provider", "limits", "backoff", "rules",
	"auth", "oauth", "learn", "warmup", "window", "shared", NULL
};
static const char *config_learn_keys[] = { "factor", "floor", "recover_after", NULL };
static const char *config_warmup_keys[] = { "start", "from", "days", NULL };
static const char *config_oauth_keys[] = {
	"token_url", "device_url", "auth_url", "scope", "client_id", "client_secret_file",
	"token_file", "token_command", "ca_file", NULL
};
static const char *config_limits_keys[] = {
	"per_hour", "per_day", "count", "min_interval", "max_recipients", "max_message_size",
	"sessions", "spread", NULL
};
static const char *config_rule_keys[] = { "match", "stage", "action", NULL };
static const char *config_backoff_keys[] = { "initial", "max", NULL };
static const char *config_imap_keys[] = {
	"host", "port", "tls", "username", "password", "password_file", "ca_file",
	"folder", "move_to", "poll", NULL
};

/* config_tls: the "tls" key of group g for a connection to host. */
static void
config_tls(struct config_ctx *ctx, const config_setting_t *g, const char *host,
    int required, enum config_tls *out)
{
	const config_setting_t *s = config_setting_get_member(g, "tls");
	char *tls = NULL;

	if (!config_str(ctx, g, "tls", &tls, required))
		return;
	if (strcmp(tls, "implicit") == 0)
		*out = CONFIG_TLS_IMPLICIT;
	else if (strcmp(tls, "starttls") == 0)
		*out = CONFIG_TLS_STARTTLS;
	else if (strcmp(tls, "none") == 0) {
		*out = CONFIG_TLS_NONE;
		if (host != NULL && !config_is_loopback(host))
			config_error(ctx, s, "\"none\" (clear text) is allowed only for a "
			    "loopback host, and %s is not one: providers need \"implicit\" "
			    "(port 465) or \"starttls\" (587)", host);
	} else
		config_error(ctx, s, "\"%s\" is not a TLS mode (allowed: \"implicit\", "
		    "\"starttls\")", tls);
	free(tls);
}

/* config_password: password or password_file of group g into *out. */
static void
config_password(struct config_ctx *ctx, const config_setting_t *g, char **out)
{
	char *pwfile = NULL;

	struct stat st;

	if (config_str(ctx, g, "password", out, 0) && stat(ctx->path, &st) == 0 &&
	    (st.st_mode & S_IROTH))
		config_warning(ctx, config_setting_get_member(g, "password"), "a password "
		    "written in a file every user of this host can read (mode %04o): put it "
		    "in a password_file readable by relayd only", (unsigned)(st.st_mode & 07777));
	if (config_str(ctx, g, "password_file", &pwfile, 0)) {
		const config_setting_t *s = config_setting_get_member(g, "password_file");

		if (*out != NULL)
			config_error(ctx, s, "give password or password_file, not both");
		else
			*out = config_read_secret(ctx, s, pwfile);
		free(pwfile);
	}
}

/* config_bounces: an account's "bounces" group (the IMAP mailbox to watch). */
static void
config_bounces(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a,
    const struct preset *p)
{
	struct config_imap *b = &a->bounces;
	long long v;

	if (!config_setting_is_group(g)) {
		config_error(ctx, g, "must be a group { host = \"imap.example.org\"; port = 993; "
		    "tls = \"implicit\"; }");
		return;
	}
	config_check_keys(ctx, g, config_imap_keys);
	b->enabled = 1;
	b->auth = a->auth;
	if (!config_str(ctx, g, "host", &b->host, p == NULL) && p != NULL)
		b->host = xstrdup(p->imap_host);
	else
		config_host(ctx, g, b->host);
	b->tls = CONFIG_TLS_IMPLICIT;
	config_tls(ctx, g, b->host, 0, &b->tls);
	v = b->tls == CONFIG_TLS_IMPLICIT ? 993 : 143;
	config_int(ctx, g, "port", 1, 65535, &v);
	b->port = (int)v;
	config_str(ctx, g, "username", &b->username, 0);
	config_password(ctx, g, &b->password);
	config_str(ctx, g, "ca_file", &b->ca_file, 0);
	if (b->username == NULL && a->username != NULL)
		b->username = xstrdup(a->username);
	if (b->password == NULL && a->password != NULL)
		b->password = xstrdup(a->password);
	if (b->ca_file == NULL && a->ca_file != NULL)
		b->ca_file = xstrdup(a->ca_file);
	/* An OAuth account's watcher logs in with the account's token. */
	if (b->username == NULL || (b->password == NULL && a->auth == CONFIG_AUTH_PASSWORD))
		config_error(ctx, g, "needs username and password (its own, or the account's)");
	b->folder = xstrdup("INBOX");
	config_str(ctx, g, "folder", &b->folder, 0);
	config_str(ctx, g, "move_to", &b->move_to, 0);
	v = 60;
	config_int(ctx, g, "poll", 5, 86400, &v);
	b->poll = (int)v;
}

/* config_limits: an account's "limits" group over the preset's (or no) limits. */
static void
config_limits(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a)
{
	struct config_limits *l = &a->limits;
	long long v;
	char *count = NULL;

	if (!config_setting_is_group(g)) {
		config_error(ctx, g, "must be a group { per_hour = 100; per_day = 500; ... }");
		return;
	}
	config_check_keys(ctx, g, config_limits_keys);
	v = l->per_hour;
	config_int(ctx, g, "per_hour", 0, 1000000, &v);
	l->per_hour = (int)v;
	v = l->per_day;
	config_int(ctx, g, "per_day", 0, 10000000, &v);
	l->per_day = (int)v;
	if (config_str(ctx, g, "count", &count, 0)) {
		if (strcmp(count, "recipients") == 0)
			l->count_recipients = 1;
		else if (strcmp(count, "messages") == 0)
			l->count_recipients = 0;
		else
			config_error(ctx, config_setting_get_member(g, "count"), "\"%s\" is not "
			    "a unit (allowed: \"recipients\", \"messages\")", count);
		free(count);
	}
	v = l->min_interval;
	config_int(ctx, g, "min_interval", 0, 86400, &v);
	l->min_interval = (int)v;
	v = l->max_recipients;
	config_int(ctx, g, "max_recipients", 1, CONFIG_RECIPIENTS_MAX, &v);
	l->max_recipients = (int)v;
	v = (long long)l->max_message_size;
	config_int(ctx, g, "max_message_size", 1024, 1LL << 31, &v);
	l->max_message_size = (unsigned long long)v;
	v = a->sessions;
	config_int(ctx, g, "sessions", 1, 16, &v);
	a->sessions = (int)v;
	config_bool(ctx, g, "spread", &l->spread);
}

/* config_date: "YYYY-MM-DD" as 00:00 UTC of that day; -1 if it is not such a date. */
static long long
config_date(const char *s)
{
	struct tm tm = { 0 };
	char *end = strptime(s, "%Y-%m-%d", &tm);
	int mon = tm.tm_mon, mday = tm.tm_mday;
	time_t t;

	if (end == NULL || *end != '\0' || strlen(s) != 10)
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mon != mon || tm.tm_mday != mday)	/* 2026-02-30 */
		return -1;
	return (long long)t;
}

/* config_window: an account's send window (sendwindow.h), its zone read now. */
static void
config_window(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a)
{
	const config_setting_t *s = config_setting_get_member(g, "window");
	char *text = NULL, err[256];

	if (s == NULL || !config_str(ctx, g, "window", &text, 0))
		return;
	a->window = xcalloc(1, sizeof(*a->window));
	if (sendwindow_parse(text, a->window, err, sizeof(err)) == -1 ||
	    sendwindow_load(a->window, getenv("TZDIR"), err, sizeof(err)) == -1) {
		config_error(ctx, s, "%s", err);
		sendwindow_free_data(a->window);
		free(a->window);
		a->window = NULL;
	}
	free(text);
}

/* config_warmup: an account's "warmup" group (planner.c); it needs a per_day. */
static void
config_warmup(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a)
{
	struct config_warmup *w = &a->warmup;
	long long v;
	char *start = NULL;

	if (!config_setting_is_group(g)) {
		config_error(ctx, g, "must be a group { start = \"2026-12-01\"; from = 10; "
		    "days = 14; }");
		return;
	}
	config_check_keys(ctx, g, config_warmup_keys);
	w->enabled = 1;
	w->from = 10;
	w->days = 14;
	if (config_str(ctx, g, "start", &start, 1) && (w->start = config_date(start)) < 0)
		config_error(ctx, config_setting_get_member(g, "start"), "\"%s\" is not a date "
		    "(YYYY-MM-DD)", start);
	free(start);
	v = w->from;
	config_int(ctx, g, "from", 1, 10000000, &v);
	w->from = (int)v;
	v = w->days;
	config_int(ctx, g, "days", 1, 365, &v);
	w->days = (int)v;
	if (a->limits.per_day == 0)
		config_error(ctx, g, "a warm-up ramps the day limit: set limits.per_day");
	else if (w->from > a->limits.per_day)
		config_error(ctx, config_setting_get_member(g, "from") ?
		    config_setting_get_member(g, "from") : g, "%d is above limits.per_day (%d)",
		    w->from, a->limits.per_day);
}

/*
 * config_learn: an account's "learn" group over its preset's (planner.c): present,
 * it turns learning on; "learn = false;" turns a preset's off.
 */
static void
config_learn(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a)
{
	struct config_learn *l = &a->learn;
	const config_setting_t *f;
	long long v;

	if (config_setting_type(g) == CONFIG_TYPE_BOOL && !config_setting_get_bool(g)) {
		l->enabled = 0;
		return;
	}
	if (!config_setting_is_group(g)) {
		config_error(ctx, g, "must be a group { factor = 0.5; floor = 2; "
		    "recover_after = 6; } or false");
		return;
	}
	config_check_keys(ctx, g, config_learn_keys);
	if (l->factor == 0) {		/* no preset: the defaults */
		l->factor = 0.5;
		l->floor = 2;
		l->recover_after = 6;
	}
	l->enabled = 1;
	if ((f = config_setting_get_member(g, "factor")) != NULL) {
		double d = config_setting_type(f) == CONFIG_TYPE_FLOAT ?
		    config_setting_get_float(f) : -1;

		if (!(d >= 0.05 && d <= 0.95))
			config_error(ctx, f, "must be a fraction between 0.05 and 0.95 (e.g. 0.5)");
		else
			l->factor = d;
	}
	v = l->floor;
	config_int(ctx, g, "floor", 1, 1000000, &v);
	l->floor = (int)v;
	v = l->recover_after;
	config_int(ctx, g, "recover_after", 1, 24 * 30, &v);
	l->recover_after = (int)v;
}

/* config_rules: the account's reply rules, then its preset's. */
static void
config_rules(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a,
    const struct preset *p)
{
	size_t n = g ? (size_t)config_setting_length(g) : 0, np = 0;
	char err[256];

	if (g != NULL && !config_setting_is_list(g)) {
		config_error(ctx, g, "must be a list ( { match = \"^553 \"; stage = \"mail\"; "
		    "action = \"throttle\"; }, ... )");
		return;
	}
	while (p != NULL && p->rules[np].match != NULL)
		np++;
	a->rules = xcalloc(n + np + 1, sizeof(*a->rules));
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *r = config_setting_get_elem(g, i);
		char *match = NULL, *stage = NULL, *action = NULL;

		if (!config_setting_is_group(r)) {
			config_error(ctx, r, "each rule is a group { match = ...; action = ...; }");
			continue;
		}
		config_check_keys(ctx, r, config_rule_keys);
		if (config_str(ctx, r, "match", &match, 1) &&
		    config_str(ctx, r, "action", &action, 1)) {
			config_str(ctx, r, "stage", &stage, 0);
			if (outcome_rule_compile(&a->rules[a->nrules], match, stage, action, err,
			    sizeof(err)) == 0)
				a->nrules++;
			else
				config_error(ctx, r, "%s", err);
		}
		free(match);
		free(stage);
		free(action);
	}
	for (size_t i = 0; i < np; i++) {
		if (outcome_rule_compile(&a->rules[a->nrules], p->rules[i].match,
		    p->rules[i].stage, p->rules[i].action, err, sizeof(err)) == -1)
			fatal("preset %s: %s", p->name, err);	/* a bug in preset.c */
		a->nrules++;
	}
}

/* config_oauth_url: an endpoint key of the oauth group: https, or http to loopback. */
static void
config_oauth_url(struct config_ctx *ctx, const config_setting_t *g, const char *key,
    char **out, const char *preset)
{
	if ((g == NULL || !config_str(ctx, g, key, out, 0)) && preset != NULL)
		*out = xstrdup(preset);
	if (*out != NULL && !config_url_allowed(*out))
		config_error(ctx, g ? config_setting_get_member(g, key) : NULL, "\"%s\" must be "
		    "an https:// URL (http:// only to a loopback host)", *out);
}

/*
 * config_auth: the account's "auth" key and, for OAuth, its "oauth" group over the
 * preset's endpoints. An OAuth account needs either token_command or token_url and
 * client_id (relayctl oauth login and the refresh use them).
 */
static void
config_auth(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a,
    const struct preset *p, const struct config *c)
{
	const config_setting_t *s = config_setting_get_member(g, "auth"), *o;
	const struct preset_oauth *po = p ? preset_oauth_find(p->name) : NULL;
	struct config_oauth *oa = &a->oauth;
	char *v = NULL, *secret_file = NULL;

	o = config_setting_get_member(g, "oauth");
	if (config_str(ctx, g, "auth", &v, 0)) {
		if (strcmp(v, "password") == 0)
			a->auth = CONFIG_AUTH_PASSWORD;
		else if (strcmp(v, "xoauth2") == 0)
			a->auth = CONFIG_AUTH_XOAUTH2;
		else if (strcmp(v, "oauthbearer") == 0)
			a->auth = CONFIG_AUTH_OAUTHBEARER;
		else
			config_error(ctx, s, "\"%s\" is not a login method (allowed: \"password\", "
			    "\"xoauth2\", \"oauthbearer\")", v);
		free(v);
	}
	if (a->auth == CONFIG_AUTH_PASSWORD) {
		if (o != NULL)
			config_error(ctx, o, "needs auth = \"xoauth2\" or \"oauthbearer\"");
		return;
	}
	if (a->username == NULL)
		return;		/* reported as missing already */
	if (o != NULL && !config_setting_is_group(o)) {
		config_error(ctx, o, "must be a group { client_id = \"...\"; }");
		o = NULL;
	}
	if (o != NULL)
		config_check_keys(ctx, o, config_oauth_keys);
	config_oauth_url(ctx, o, "token_url", &oa->token_url, po ? po->token_url : NULL);
	config_oauth_url(ctx, o, "device_url", &oa->device_url, po ? po->device_url : NULL);
	config_oauth_url(ctx, o, "auth_url", &oa->auth_url, po ? po->auth_url : NULL);
	if (o == NULL || !config_str(ctx, o, "scope", &oa->scope, 0))
		oa->scope = po ? xstrdup(po->scope) : NULL;
	if (o != NULL) {
		config_str(ctx, o, "client_id", &oa->client_id, 0);
		config_str(ctx, o, "token_command", &oa->token_command, 0);
		config_str(ctx, o, "token_file", &oa->token_file, 0);
		if (config_str(ctx, o, "client_secret_file", &secret_file, 0)) {
			oa->client_secret = config_read_secret(ctx,
			    config_setting_get_member(o, "client_secret_file"), secret_file);
			free(secret_file);
		}
		if (config_str(ctx, o, "ca_file", &oa->ca_file, 0) &&
		    access(oa->ca_file, R_OK) == -1)
			config_error(ctx, config_setting_get_member(o, "ca_file"),
			    "cannot read %s: %s", oa->ca_file, strerror(errno));
	}
	if (oa->ca_file == NULL && a->ca_file != NULL)
		oa->ca_file = xstrdup(a->ca_file);
	if (oa->token_file == NULL && a->name != NULL)
		oa->token_file = xasprintf("%s/oauth/%s", c->spool_dir, a->name);
	if (oa->token_command != NULL)
		return;
	if (oa->token_url == NULL || oa->client_id == NULL)
		config_error(ctx, o ? o : g, "auth = \"%s\" needs an oauth group with client_id "
		    "(and token_url unless the provider preset has one), or token_command",
		    config_auth_name(a->auth));
}

/* config_account: check and fill one entry of the accounts list. */
void
config_account(struct config_ctx *ctx, const config_setting_t *g, struct config_account *a,
    const struct config *c)
{
	const struct preset *p = NULL;
	const config_setting_t *s;
	long long v;

	if (!config_setting_is_group(g)) {
		config_error(ctx, g, "each account must be a group { name = ...; host = ...; }");
		return;
	}
	config_check_keys(ctx, g, config_account_keys);
	if (config_str(ctx, g, "name", &a->name, 1) && !config_is_filename(a->name))
		config_error(ctx, config_setting_get_member(g, "name"), "not a safe name "
		    "(letters, digits, '.', '_', '-', up to 64, not starting with '.' or '-': "
		    "it names files in the spool)");
	if (config_str(ctx, g, "provider", &a->provider, 0) &&
	    (p = preset_find(a->provider)) == NULL)
		config_error(ctx, config_setting_get_member(g, "provider"), "\"%s\" is not a "
		    "known provider (known: %s); or leave it out and set host, port and tls",
		    a->provider, preset_names());
	/* A preset gives host, port, tls and limits; keys set here override it. */
	if (!config_str(ctx, g, "host", &a->host, p == NULL) && p != NULL)
		a->host = xstrdup(p->host);
	else
		config_host(ctx, g, a->host);
	v = p ? p->port : 0;
	config_int(ctx, g, "port", 1, 65535, &v);
	if (config_setting_get_member(g, "port") == NULL && p == NULL)
		config_missing(ctx, g, "port");
	a->port = (int)v;
	a->tls = p ? p->tls : CONFIG_TLS_IMPLICIT;
	config_tls(ctx, g, a->host, p == NULL, &a->tls);

	config_str(ctx, g, "username", &a->username, 0);
	config_password(ctx, g, &a->password);
	if (a->tls != CONFIG_TLS_NONE && a->username == NULL)
		config_missing(ctx, g, "username");
	config_auth(ctx, g, a, p, c);
	if (a->username != NULL && a->password == NULL && a->auth == CONFIG_AUTH_PASSWORD &&
	    config_setting_get_member(g, "password_file") == NULL)
		config_error(ctx, g, "password: missing (give password or password_file)");
	config_str(ctx, g, "address", &a->address, 0);
	if (a->address == NULL && a->username != NULL) {
		if (strchr(a->username, '@') == NULL)
			config_error(ctx, g, "address: missing, and username \"%s\" is not a mail "
			    "address to send as", a->username);
		a->address = xstrdup(a->username);
	} else if (a->address == NULL)
		config_missing(ctx, g, "address");
	if (config_str(ctx, g, "ca_file", &a->ca_file, 0) && access(a->ca_file, R_OK) == -1)
		config_error(ctx, config_setting_get_member(g, "ca_file"), "cannot read %s: %s",
		    a->ca_file, strerror(errno));
	v = 1;
	config_int(ctx, g, "sessions", 1, 16, &v);
	a->sessions = (int)v;

	a->limits = (struct config_limits){ .count_recipients = 1, .max_recipients = 100,
	    .max_message_size = c->max_message_size };
	if (p != NULL)
		a->limits = (struct config_limits){ p->per_hour, p->per_day, p->count_recipients,
		    p->min_interval, p->max_recipients, p->max_message_size, 0 };
	if ((s = config_setting_get_member(g, "limits")) != NULL)
		config_limits(ctx, s, a);
	if (p != NULL && p->learn_factor > 0)
		a->learn = (struct config_learn){ 1, p->learn_factor, p->learn_floor,
		    p->learn_recover_after };
	if ((s = config_setting_get_member(g, "learn")) != NULL)
		config_learn(ctx, s, a);
	if ((s = config_setting_get_member(g, "warmup")) != NULL)
		config_warmup(ctx, s, a);
	config_window(ctx, g, a);

	a->backoff_initial = 300;
	a->backoff_max = 3600;
	if ((s = config_setting_get_member(g, "backoff")) != NULL) {
		if (!config_setting_is_group(s))
			config_error(ctx, s, "must be a group { initial = 300; max = 3600; }");
		else {
			config_check_keys(ctx, s, config_backoff_keys);
			v = a->backoff_initial;
			config_int(ctx, s, "initial", 1, 7 * 86400, &v);
			a->backoff_initial = (int)v;
			v = a->backoff_max;
			config_int(ctx, s, "max", 1, 30 * 86400, &v);
			a->backoff_max = (int)v;
			if (a->backoff_max < a->backoff_initial)
				config_error(ctx, s, "max (%d) must not be below initial (%d)",
				    a->backoff_max, a->backoff_initial);
		}
	}
	config_rules(ctx, config_setting_get_member(g, "rules"), a, p);
	if ((s = config_setting_get_member(g, "bounces")) != NULL)
		config_bounces(ctx, s, a, p);
}
