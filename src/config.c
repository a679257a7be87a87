/*
 * config: relay.conf loading and validation.
 *
 * libconfig parses the syntax and gives each setting its line; this file checks the
 * meaning: known keys only (a misspelt key is an error, not a silent default), types,
 * ranges, loopback-only listeners, no clear text to remote hosts, secret files that
 * only their owner can read. All problems are reported, not just the first.
 *
 * This file reads the file and its top-level keys; an entry of the accounts list is
 * config_account.c's, the typed values and the reporting are config_value.c's.
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

#include "acl.h"
#include "config.h"
#include "config_int.h"
#include "events_file.h"
#include "log.h"
#include "sendwindow.h"
#include "xmalloc.h"

static const char *config_top_keys[] = {
	"listen", "spool_dir", "control_socket", "hostname", "max_message_size",
	"max_clients", "max_recipients", "log_level", "retry", "accounts", "suppress", "log",
	"user", "control_group", "metrics_listen", "tls_cert", "tls_key", "auth_users",
	"allow_networks", "max_clients_per_address", "max_session_time", "events", "domains",
	"shared", NULL
};
static const char *config_retry_keys[] = { "initial", "max", "lifetime", NULL };
static const char *config_suppress_keys[] = { "hard", "soft_after", NULL };
static const char *config_events_keys[] = {
	"webhook", "secret_file", "types", "ca_file", "batch", "keep", "dsn_to", NULL
};

/* config_events: the "events" group s: the journal, its webhook and their types. */
static void
config_events(struct config_ctx *ctx, const config_setting_t *s, struct config_events *e)
{
	const config_setting_t *t;
	char *secret_file = NULL;
	long long v;

	e->types = EVENTS_TYPES_DEFAULT;
	e->batch = 100;
	e->keep = 604800;
	if (s == NULL)
		return;
	if (!config_setting_is_group(s)) {
		config_error(ctx, s, "must be a group { webhook = \"https://...\"; ... }");
		return;
	}
	e->enabled = 1;
	config_check_keys(ctx, s, config_events_keys);
	if (config_str(ctx, s, "webhook", &e->webhook, 0) && !config_url_allowed(e->webhook))
		config_error(ctx, config_setting_get_member(s, "webhook"), "%s: must be "
		    "https:// (http:// only to a loopback address)", e->webhook);
	if (config_str(ctx, s, "secret_file", &secret_file, 0))
		e->secret = config_read_secret(ctx, config_setting_get_member(s,
		    "secret_file"), secret_file);
	else if (e->webhook != NULL)
		config_missing(ctx, s, "secret_file");
	free(secret_file);
	config_str(ctx, s, "ca_file", &e->ca_file, 0);
	if (config_str(ctx, s, "dsn_to", &e->dsn_to, 0) && (strchr(e->dsn_to, '@') == NULL ||
	    strpbrk(e->dsn_to, " \t\r\n<>\"") != NULL))
		config_error(ctx, config_setting_get_member(s, "dsn_to"), "%s: must be a bare "
		    "address, local@domain", e->dsn_to);
	v = e->batch;
	config_int(ctx, s, "batch", 1, 10000, &v);
	e->batch = (int)v;
	v = e->keep;
	config_int(ctx, s, "keep", 3600, 365 * 86400, &v);
	e->keep = (int)v;
	if ((t = config_setting_get_member(s, "types")) == NULL)
		return;
	if (config_setting_type(t) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(t) != CONFIG_TYPE_LIST) {
		config_error(ctx, t, "must be a list of names [ \"sent\", \"failed\", ... ]");
		return;
	}
	e->types = 0;
	for (int i = 0; i < config_setting_length(t); i++) {
		const char *n = config_setting_get_string_elem(t, i);
		int k = events_file_type_parse(n);

		if (k < 0)
			config_error(ctx, t, "\"%s\" is not an event type (queued, sent, "
			    "deferred, failed, bounced, suppressed, account)", n ? n : "?");
		else
			e->types |= 1u << k;
	}
}

/* config_listen: the listen array; each entry a loopback ADDR:PORT. */
static void
config_listen(struct config_ctx *ctx, const config_setting_t *s, struct config *c)
{
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		config_error(ctx, s, "must be a list of \"ADDRESS:PORT\" strings, e.g. "
		    "[ \"127.0.0.1:2525\", \"[::1]:2525\" ]");
		return;
	}
	int n = config_setting_length(s);
	if (n == 0)
		config_error(ctx, s, "must name at least one address");
	c->listen = xcalloc(n ? n : 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		struct sockaddr_storage ss;
		int sslen = sizeof(ss);
		const char *v;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			config_error(ctx, e, "must be a string \"ADDRESS:PORT\"");
			continue;
		}
		v = config_setting_get_string(e);
		if (evutil_parse_sockaddr_port(v, (struct sockaddr *)&ss, &sslen) == -1 ||
		    strrchr(v, ':') == NULL || strrchr(v, ':')[1] == '\0' ||
		    (v[0] == '[' && strrchr(v, ']') > strrchr(v, ':'))) {
			config_error(ctx, e, "\"%s\" is not ADDRESS:PORT (IPv6 in brackets: "
			    "\"[::1]:2525\")", v);
			continue;
		}
		char host[64];
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
			    sizeof(host));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
			    sizeof(host));
		if (!config_is_loopback(host))
			ctx->listen_public = e;	/* allowed only with AUTH or allow_networks */
		c->listen[c->nlisten++] = xstrdup(v);
	}
}

/*
 * config_access: who may submit mail. Loopback clients always may; a listener on any
 * other address needs SMTP AUTH (over TLS: tls_cert, tls_key, auth_users) or an
 * allow_networks list, else relayd would be an open relay and the file is refused.
 */
static void
config_access(struct config_ctx *ctx, const config_setting_t *root, struct config *c)
{
	const config_setting_t *s;

	if (config_str(ctx, root, "tls_cert", &c->tls_cert, 0) && access(c->tls_cert, R_OK))
		config_error(ctx, config_setting_get_member(root, "tls_cert"), "cannot read "
		    "%s: %s", c->tls_cert, strerror(errno));
	if (config_str(ctx, root, "tls_key", &c->tls_key, 0)) {
		struct stat st;

		s = config_setting_get_member(root, "tls_key");
		if (stat(c->tls_key, &st) == -1 || access(c->tls_key, R_OK) == -1)
			config_error(ctx, s, "cannot read %s: %s", c->tls_key, strerror(errno));
		else if (st.st_mode & (S_IROTH | S_IWOTH))
			config_error(ctx, s, "%s is accessible to other users (mode %03o); "
			    "chmod 600 it", c->tls_key, (unsigned)st.st_mode & 0777);
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		config_error(ctx, config_setting_get_member(root, c->tls_cert ? "tls_cert" :
		    "tls_key"), "tls_cert and tls_key go together");
	if (config_str(ctx, root, "auth_users", &c->auth_users, 0)) {
		s = config_setting_get_member(root, "auth_users");
		free(config_read_secret(ctx, s, c->auth_users));	/* readable, not public */
		if (c->tls_cert == NULL)
			config_error(ctx, s, "needs tls_cert and tls_key: passwords are accepted "
			    "only over TLS (STARTTLS)");
	}
	if ((s = config_setting_get_member(root, "allow_networks")) != NULL) {
		int n = config_setting_length(s);

		if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(s) != CONFIG_TYPE_LIST) {
			config_error(ctx, s, "must be a list of networks, e.g. "
			    "[ \"192.168.1.0/24\", \"10.0.0.5\" ]");
			n = 0;
		}
		c->allow = xcalloc(n ? n : 1, sizeof(*c->allow));
		for (int i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(s, i);
			const char *v = config_setting_get_string(e);

			if (v == NULL || acl_parse(v, &c->allow[c->nallow]) == -1)
				config_error(ctx, e, "\"%s\" is not a network (ADDRESS or "
				    "ADDRESS/PREFIX, IPv4 or IPv6)", v ? v : "?");
			else
				c->nallow++;
		}
	}
	if (ctx->listen_public != NULL && c->auth_users == NULL && c->nallow == 0)
		config_error(ctx, ctx->listen_public, "%s is not a loopback address, and nothing "
		    "says who may send from there: that would make relayd an open relay. Set "
		    "allow_networks, or auth_users with tls_cert and tls_key (SMTP AUTH), or "
		    "listen on loopback only", config_setting_get_string(ctx->listen_public));
}

/* config_domains_report, _int: what config_domains.c is lent (config_domains_io). */
static void
config_domains_report(void *ctx, const config_setting_t *s, const char *msg)
{
	config_error(ctx, s, "%s", msg);
}

static void
config_domains_int(void *ctx, const config_setting_t *g, const char *key, long long min,
    long long max, long long *out)
{
	config_int(ctx, g, key, min, max, out);
}

/* config_check: every top-level key, with defaults for what is absent. */
static void
config_check(struct config_ctx *ctx, config_t *cf, struct config *c)
{
	const config_setting_t *root = config_root_setting(cf), *s;
	long long v;
	char *level = NULL;
	char host[256];

	config_check_keys(ctx, root, config_top_keys);

	if ((s = config_setting_get_member(root, "listen")) != NULL)
		config_listen(ctx, s, c);
	else {
		c->listen = xcalloc(2, sizeof(char *));
		c->listen[c->nlisten++] = xstrdup("127.0.0.1:2525");
		c->listen[c->nlisten++] = xstrdup("[::1]:2525");
	}
	c->spool_dir = xstrdup("/var/spool/relayd");
	config_str(ctx, root, "spool_dir", &c->spool_dir, 0);
	if (c->spool_dir[0] != '/')
		config_error(ctx, config_setting_get_member(root, "spool_dir"),
		    "must be an absolute path");
	c->control_socket = xstrdup("/run/relayd/control.sock");
	config_str(ctx, root, "control_socket", &c->control_socket, 0);
	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	c->hostname = xstrdup(host);
	if (config_str(ctx, root, "hostname", &c->hostname, 0) &&
	    !config_is_hostname(c->hostname, 0))
		config_error(ctx, config_setting_get_member(root, "hostname"), "not a host name "
		    "(letters, digits, inner '-', dots: it is said in the greeting and EHLO)");

	v = 31457280;
	config_int(ctx, root, "max_message_size", 1024, 1LL << 31, &v);
	c->max_message_size = v;
	v = 256;
	config_int(ctx, root, "max_clients", 1, 100000, &v);
	c->max_clients = (int)v;
	v = 20;
	config_int(ctx, root, "max_clients_per_address", 1, 100000, &v);
	c->max_clients_per_address = (int)v;
	v = 600;
	config_int(ctx, root, "max_session_time", 10, 86400, &v);
	c->max_session_time = (int)v;
	v = 100;
	config_int(ctx, root, "max_recipients", 1, CONFIG_RECIPIENTS_MAX, &v);
	c->max_recipients = (int)v;

	if (config_str(ctx, root, "log", &level, 0)) {
		if (strcmp(level, "syslog") == 0)
			c->log_syslog = 1;
		else if (strcmp(level, "stderr") != 0)
			config_error(ctx, config_setting_get_member(root, "log"), "\"%s\" is not "
			    "a log target (allowed: \"stderr\", \"syslog\")", level);
		free(level);
		level = NULL;
	}
	if (config_str(ctx, root, "user", &c->user, 0) && getpwnam(c->user) == NULL)
		config_error(ctx, config_setting_get_member(root, "user"), "there is no user "
		    "\"%s\" on this system", c->user);
	if (config_str(ctx, root, "control_group", &c->control_group, 0) &&
	    getgrnam(c->control_group) == NULL)
		config_error(ctx, config_setting_get_member(root, "control_group"), "there is "
		    "no group \"%s\" on this system", c->control_group);
	if (config_str(ctx, root, "metrics_listen", &c->metrics_listen, 0)) {
		struct sockaddr_storage ss;
		int sslen = sizeof(ss);

		char addr[64];

		if (evutil_parse_sockaddr_port(c->metrics_listen, (struct sockaddr *)&ss,
		    &sslen) == -1 || strrchr(c->metrics_listen, ':') == NULL)
			config_error(ctx, config_setting_get_member(root, "metrics_listen"),
			    "\"%s\" is not ADDRESS:PORT", c->metrics_listen);
		else if (evutil_inet_ntop(ss.ss_family, ss.ss_family == AF_INET ?
		    (void *)&((struct sockaddr_in *)&ss)->sin_addr :
		    (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr)) &&
		    !config_is_loopback(addr))
			/* The metrics have no authentication: they stay on this host. */
			config_error(ctx, config_setting_get_member(root, "metrics_listen"),
			    "%s is not a loopback address (the metrics have no authentication)",
			    c->metrics_listen);
	}

	c->log_level = LOG_INFO;
	if (config_str(ctx, root, "log_level", &level, 0)) {
		c->log_level = log_level_parse(level);
		if (c->log_level == -1) {
			config_error(ctx, config_setting_get_member(root, "log_level"),
			    "\"%s\" is not a level (allowed: \"error\", \"warning\", \"info\", "
			    "\"debug\")", level);
			c->log_level = LOG_INFO;
		}
		free(level);
	}

	c->retry_initial = 60;
	c->retry_max = 3600;
	c->retry_lifetime = 432000;
	if ((s = config_setting_get_member(root, "retry")) != NULL) {
		if (!config_setting_is_group(s))
			config_error(ctx, s, "must be a group { initial = 60; max = 3600; "
			    "lifetime = 432000; }");
		else {
			config_check_keys(ctx, s, config_retry_keys);
			v = c->retry_initial;
			config_int(ctx, s, "initial", 1, 86400, &v);
			c->retry_initial = (int)v;
			v = c->retry_max;
			config_int(ctx, s, "max", 1, 7 * 86400, &v);
			c->retry_max = (int)v;
			v = c->retry_lifetime;
			config_int(ctx, s, "lifetime", 1, 365 * 86400, &v);
			c->retry_lifetime = (int)v;
			if (c->retry_max < c->retry_initial)
				config_error(ctx, s, "max (%d) must not be below initial (%d)",
				    c->retry_max, c->retry_initial);
		}
	}

	c->suppress_hard = 1;
	c->suppress_soft_after = 5;
	if ((s = config_setting_get_member(root, "suppress")) != NULL) {
		if (!config_setting_is_group(s))
			config_error(ctx, s, "must be a group { hard = true; soft_after = 5; }");
		else {
			config_check_keys(ctx, s, config_suppress_keys);
			config_bool(ctx, s, "hard", &c->suppress_hard);
			v = c->suppress_soft_after;
			config_int(ctx, s, "soft_after", 0, 1000, &v);
			c->suppress_soft_after = (int)v;
		}
	}

	config_access(ctx, root, c);
	config_events(ctx, config_setting_get_member(root, "events"), &c->events);
	c->domains = config_domains_parse(config_setting_get_member(root, "domains"),
	    &c->ndomains, &(struct config_domains_io){ config_domains_report, config_domains_int, ctx });

	s = config_setting_get_member(root, "accounts");
	if (s == NULL || !config_setting_is_list(s) || config_setting_length(s) == 0) {
		config_error(ctx, s, "accounts: %s", s == NULL ? "missing: at least one "
		    "provider account is needed" : "must be a non-empty list ( { ... }, ... )");
		return;
	}
	c->naccounts = config_setting_length(s);
	c->accounts = xcalloc(c->naccounts, sizeof(*c->accounts));
	for (size_t i = 0; i < c->naccounts; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i);

		config_account(ctx, g, &c->accounts[i], c);
		for (size_t j = 0; j < i && c->accounts[i].name; j++)
			if (c->accounts[j].name &&
			    strcmp(c->accounts[j].name, c->accounts[i].name) == 0)
				config_error(ctx, config_setting_get_member(g, "name"),
				    "\"%s\" is used by another account already",
				    c->accounts[i].name);
	}
	config_shared(ctx, root, c);	/* Redis: shared accounts */
}

struct config *
config_load(const char *path)
{
	return config_load_report(path, stderr);
}

struct config *
config_load_report(const char *path, FILE *err)
{
	struct config_ctx ctx = { .path = path, .err = err };
	struct config *c;
	config_t cf;

	config_init(&cf);
	if (!config_read_file(&cf, path)) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			fprintf(err, "%s: cannot read: %s\n", path, strerror(errno));
		else
			fprintf(err, "%s:%d: %s\n", config_error_file(&cf) ?
			    config_error_file(&cf) : path, config_error_line(&cf),
			    config_error_text(&cf));
		config_destroy(&cf);
		return NULL;
	}
	FILE *fp = fopen(path, "r");
	int chr;

	ctx.lastline = 1;
	while (fp != NULL && (chr = getc(fp)) != EOF)
		ctx.lastline += chr == '\n';
	if (fp != NULL)
		fclose(fp);
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	config_check(&ctx, &cf, c);
	config_destroy(&cf);
	if (ctx.errors) {
		config_free(c);
		return NULL;
	}
	return c;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nlisten; i++)
		free(c->listen[i]);
	free(c->listen);
	config_domains_free(c->domains, c->ndomains);
	for (size_t i = 0; i < c->naccounts; i++) {
		struct config_account *a = &c->accounts[i];

		if (a->window != NULL)
			sendwindow_free_data(a->window);
		free(a->window);
		free(a->name);
		free(a->host);
		free(a->username);
		if (a->password != NULL)
			explicit_bzero(a->password, strlen(a->password));
		free(a->password);
		free(a->address);
		free(a->ca_file);
		free(a->bounces.host);
		free(a->bounces.username);
		if (a->bounces.password != NULL)
			explicit_bzero(a->bounces.password, strlen(a->bounces.password));
		free(a->bounces.password);
		free(a->bounces.ca_file);
		free(a->bounces.folder);
		free(a->bounces.move_to);
		free(a->provider);
		free(a->oauth.token_url);
		free(a->oauth.device_url);
		free(a->oauth.auth_url);
		free(a->oauth.scope);
		free(a->oauth.client_id);
		if (a->oauth.client_secret != NULL)
			explicit_bzero(a->oauth.client_secret, strlen(a->oauth.client_secret));
		free(a->oauth.client_secret);
		free(a->oauth.token_file);
		free(a->oauth.token_command);
		free(a->oauth.ca_file);
		for (size_t j = 0; j < a->nrules; j++)
			outcome_rule_free(&a->rules[j]);
		free(a->rules);
	}
	free(c->accounts);
	free(c->spool_dir);
	free(c->control_socket);
	free(c->hostname);
	free(c->user);
	free(c->control_group);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->auth_users);
	free(c->allow);
	free(c->metrics_listen);
	free(c->events.webhook);
	if (c->events.secret != NULL)
		explicit_bzero(c->events.secret, strlen(c->events.secret));
	free(c->events.secret);
	free(c->events.ca_file);
	free(c->events.dsn_to);
	config_shared_free(&c->shared);
	free(c->path);
	free(c);
}
