/*
 * config: relay.conf loading and validation.
 *
 * libconfig parses the syntax and gives each setting its line; this file checks the
 * meaning: known keys only (a misspelt key is an error, not a silent default), types,
 * ranges, loopback-only listeners, no clear text to remote hosts, secret files that
 * only their owner can read. All problems are reported, not just the first.
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
#include "config_shared.h"
#include "events_file.h"
#include "log.h"
#include "preset.h"
#include "sendwindow.h"
#include "xmalloc.h"

struct config_ctx {
	const char	*path;
	FILE		*err;		/* where problems are reported */
	int		 errors;
	int		 lastline;	/* where a missing top-level key would go */
	const config_setting_t *listen_public;	/* a non-loopback listen entry */
};

static const char *config_top_keys[] = {
	"listen", "spool_dir", "control_socket", "hostname", "max_message_size",
	"max_clients", "max_recipients", "log_level", "retry", "accounts", "suppress", "log",
	"user", "control_group", "metrics_listen", "tls_cert", "tls_key", "auth_users",
	"allow_networks", "max_clients_per_address", "max_session_time", "events", "shared",
	NULL
};
static const char *config_retry_keys[] = { "initial", "max", "lifetime", NULL };
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
static const char *config_suppress_keys[] = { "hard", "soft_after", NULL };
static const char *config_events_keys[] = {
	"webhook", "secret_file", "types", "ca_file", "batch", "keep", "dsn_to", NULL
};

/* config_path: the dotted key path of a setting, e.g. "accounts.[1].port". */
static void
config_path(const config_setting_t *s, char *buf, size_t len)
{
	char tmp[256];
	const char *name;

	buf[0] = '\0';
	for (; s != NULL && config_setting_parent(s) != NULL; s = config_setting_parent(s)) {
		name = config_setting_name(s);
		if (name != NULL)
			snprintf(tmp, sizeof(tmp), "%s%s%s", name,
			    buf[0] && buf[0] != '[' ? "." : "", buf);
		else
			snprintf(tmp, sizeof(tmp), "[%d]%s%s", config_setting_index(s),
			    buf[0] ? "." : "", buf);
		snprintf(buf, len, "%s", tmp);
	}
}

/* config_line: the line of a setting; the root has none: the end of the file. */
static int
config_line(const struct config_ctx *ctx, const config_setting_t *s)
{
	int line = s ? config_setting_source_line(s) : 0;

	return line > 0 ? line : ctx->lastline;
}

/* config_vreport: one line "FILE:LINE: key: [what: ]message" about setting s. */
static void
config_vreport(struct config_ctx *ctx, const config_setting_t *s, const char *what,
    const char *fmt, va_list ap)
{
	char key[256], msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	key[0] = '\0';
	if (s != NULL)
		config_path(s, key, sizeof(key));
	fprintf(ctx->err, "%s:%d: %s%s%s%s\n", ctx->path, config_line(ctx, s), key,
	    key[0] ? ": " : "", what, msg);
}

/* config_error: report one problem with a setting (or a missing top-level one). */
static void __attribute__((format(printf, 3, 4)))
config_error(struct config_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	ctx->errors++;
	va_start(ap, fmt);
	config_vreport(ctx, s, "", fmt, ap);
	va_end(ap);
}

/* config_warning: report a problem that does not stop relayd, as config_error does. */
static void __attribute__((format(printf, 3, 4)))
config_warning(struct config_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vreport(ctx, s, "warning: ", fmt, ap);
	va_end(ap);
}

/* config_check_keys: every member of group g must be one of allowed. */
static void
config_check_keys(struct config_ctx *ctx, const config_setting_t *g, const char **allowed)
{
	char list[512];
	size_t off = 0;
	int i, j;

	list[0] = '\0';
	for (j = 0; allowed[j] != NULL && off < sizeof(list); j++)
		off += snprintf(list + off, sizeof(list) - off, "%s%s", j ? ", " : "",
		    allowed[j]);
	for (i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, i);
		const char *name = config_setting_name(m);

		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(allowed[j], name) == 0)
				break;
		if (allowed[j] == NULL)
			config_error(ctx, m, "unknown key (allowed here: %s)", list);
	}
}

/* config_missing: report that group g lacks the required key. */
static void
config_missing(struct config_ctx *ctx, const config_setting_t *g, const char *key)
{
	char where[256];

	config_path(g, where, sizeof(where));
	ctx->errors++;
	fprintf(ctx->err, "%s:%d: %s%s%s: missing (required)\n", ctx->path,
	    config_line(ctx, g), where, where[0] ? "." : "", key);
}

/* config_str: a string member; *out untouched when absent. Returns 1 if present. */
static int
config_str(struct config_ctx *ctx, const config_setting_t *g, const char *key, char **out,
    int required)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s == NULL) {
		if (required)
			config_missing(ctx, g, key);
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		config_error(ctx, s, "must be a string in double quotes");
		return 0;
	}
	const char *v = config_setting_get_string(s);
	if (*v == '\0') {
		config_error(ctx, s, "must not be empty");
		return 0;
	}
	free(*out);
	*out = xstrdup(v);
	return 1;
}

/*
 * config_int_literal: the text of the number given for key on the setting's line of
 * its file, as written (sign, digits, 0x); 0 when it cannot be found there.
 */
static int
config_int_literal(const config_setting_t *s, const char *key, char *out, size_t len)
{
	const char *file = config_setting_source_file(s);
	int line = config_setting_source_line(s), n = 1, found = 0;
	char buf[4096];
	FILE *fp;

	if (file == NULL || line <= 0 || (fp = fopen(file, "r")) == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		if (n < line) {
			n += strchr(buf, '\n') != NULL;
			continue;
		}
		for (char *p = buf; !found && (p = strstr(p, key)) != NULL; p++) {
			char *q = p + strlen(key);
			size_t k = 0;

			if (p > buf && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
				continue;
			q += strspn(q, " \t");
			if (*q != '=' && *q != ':')
				continue;
			q += 1 + strspn(q + 1, " \t");
			while ((isxdigit((unsigned char)q[k]) || strchr("+-xX", q[k]) != NULL) &&
			    q[k] != '\0' && k + 1 < len) {
				out[k] = q[k];
				k++;
			}
			out[k] = '\0';
			found = k > 0;
		}
		break;
	}
	fclose(fp);
	return found;
}

/* config_int_parse: text as a long long (decimal or 0x); -1 when it does not fit. */
static int
config_int_parse(const char *text, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(text, &end, 0);
	return errno == ERANGE || *end != '\0' || *v < INT_MIN || *v > INT_MAX ? -1 : 0;
}

/* config_int: an integer member within [min, max]; *out untouched when absent. */
static void
config_int(struct config_ctx *ctx, const config_setting_t *g, const char *key,
    long long min, long long max, long long *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		config_error(ctx, s, "must be a whole number (%lld .. %lld)", min, max);
		return;
	}
	long long v = config_setting_get_int64(s);
	char text[32];

	/* libconfig 1.5 keeps a plain literal in an int, wrapped: take the text's word. */
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    config_int_literal(s, key, text, sizeof(text)) &&
	    config_int_parse(text, &v) == -1) {
		config_error(ctx, s, "%s is out of range (%lld .. %lld)", text, min, max);
		return;
	}
	if (v < min || v > max) {
		config_error(ctx, s, "%lld is out of range (%lld .. %lld)", v, min, max);
		return;
	}
	*out = v;
}

/* config_bool: a true/false member; *out untouched when absent. */
static void
config_bool(struct config_ctx *ctx, const config_setting_t *g, const char *key, int *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	if (s != NULL && config_setting_type(s) != CONFIG_TYPE_BOOL)
		config_error(ctx, s, "must be true or false");
	else if (s != NULL)
		*out = config_setting_get_bool(s);
}

/*
 * config_is_hostname: is s a host name (RFC 1123: dot-separated labels of letters,
 * digits and inner hyphens, each 1-63 octets, 253 in all)? addr: an IPv4 or IPv6
 * address (bracketed or not) is fine too.
 */
static int
config_is_hostname(const char *s, int addr)
{
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(s), label = 0;

	if (addr && n >= 2 && s[0] == '[' && s[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, s + 1, n - 2);
		buf[n - 2] = '\0';
		return inet_pton(AF_INET6, buf, &a6) == 1 || inet_pton(AF_INET, buf, &a6) == 1;
	}
	if (addr && inet_pton(AF_INET6, s, &a6) == 1)
		return 1;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return 0;
			label = 0;
		} else if (isalnum(c) || (c == '-' && label > 0))
			label++;
		else
			return 0;
	}
	return 1;
}

/*
 * config_is_filename: is s safe as one file name in the spool: letters, digits,
 * '.', '_', '-', not starting with '.' or '-', at most 64 octets?
 */
static int
config_is_filename(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._-", s[i]) == NULL)
			return 0;
	return 1;
}

/* config_host: report group g's "host" (given as host) unless a host name or address. */
static void
config_host(struct config_ctx *ctx, const config_setting_t *g, const char *host)
{
	if (host != NULL && !config_is_hostname(host, 1))
		config_error(ctx, config_setting_get_member(g, "host"), "not a host name or "
		    "address");
}

/* config_is_loopback: is host a loopback name or address literal? */
static int
config_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

/* config_read_secret: the first line of a password file only its owner may read. */
static char *
config_read_secret(struct config_ctx *ctx, const config_setting_t *s, const char *file)
{
	struct stat st;
	char line[1024];
	FILE *fp;

	if ((fp = fopen(file, "r")) == NULL) {
		config_error(ctx, s, "cannot open %s: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
		config_error(ctx, s, "%s is accessible to other users (mode %03o); "
		    "chmod 600 it (or 640 with the service group)", file,
		    (unsigned)st.st_mode & 0777);
		fclose(fp);
		return NULL;
	}
	if (fgets(line, sizeof(line), fp) == NULL) {
		config_error(ctx, s, "%s is empty", file);
		fclose(fp);
		return NULL;
	}
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	char *p = xstrdup(line);
	explicit_bzero(line, sizeof(line));
	return p;
}

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
	config_str(ctx, s, "dsn_to", &e->dsn_to, 0);
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
static void
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
	config_shared(ctx, root, c, config_error, config_read_secret);	/* Redis: shared accounts */
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

const char *
config_tls_name(enum config_tls t)
{
	switch (t) {
	case CONFIG_TLS_IMPLICIT:
		return "implicit";
	case CONFIG_TLS_STARTTLS:
		return "starttls";
	case CONFIG_TLS_NONE:
		return "none";
	}
	return "?";
}

const char *
config_auth_name(enum config_auth m)
{
	switch (m) {
	case CONFIG_AUTH_PASSWORD:
		return "password";
	case CONFIG_AUTH_XOAUTH2:
		return "xoauth2";
	case CONFIG_AUTH_OAUTHBEARER:
		return "oauthbearer";
	}
	return "?";
}

int
config_url_allowed(const char *url)
{
	char host[256];
	size_t n;

	if (strncasecmp(url, "https://", 8) == 0)
		return url[8] != '\0' && url[8] != '/';
	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	url += 7;
	if (*url == '[')	/* [::1]:port */
		n = strcspn(url, "]") + 1;
	else
		n = strcspn(url, ":/?#");
	if (n == 0 || n >= sizeof(host) || strchr(url, '@') != NULL)
		return 0;
	memcpy(host, url, n);
	host[n] = '\0';
	return config_is_loopback(host);
}
