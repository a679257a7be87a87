/*
 * config_value: the typed reading of relay.conf's values (part of the config module,
 * config_int.h): each problem reported as "FILE:LINE: key: problem", strings, integers
 * as written, booleans, host and file names, secret files; and the names and checks
 * that config.h makes public (config_tls_name, config_auth_name, config_url_allowed).
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
#include "xmalloc.h"

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
void __attribute__((format(printf, 3, 4)))
config_error(struct config_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	ctx->errors++;
	va_start(ap, fmt);
	config_vreport(ctx, s, "", fmt, ap);
	va_end(ap);
}

/* config_warning: report a problem that does not stop relayd, as config_error does. */
void __attribute__((format(printf, 3, 4)))
config_warning(struct config_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vreport(ctx, s, "warning: ", fmt, ap);
	va_end(ap);
}

/* config_check_keys: every member of group g must be one of allowed. */
void
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
void
config_missing(struct config_ctx *ctx, const config_setting_t *g, const char *key)
{
	char where[256];

	config_path(g, where, sizeof(where));
	ctx->errors++;
	fprintf(ctx->err, "%s:%d: %s%s%s: missing (required)\n", ctx->path,
	    config_line(ctx, g), where, where[0] ? "." : "", key);
}

/* config_str: a string member; *out untouched when absent. Returns 1 if present. */
int
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
void
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
void
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
int
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
int
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
void
config_host(struct config_ctx *ctx, const config_setting_t *g, const char *host)
{
	if (host != NULL && !config_is_hostname(host, 1))
		config_error(ctx, config_setting_get_member(g, "host"), "not a host name or "
		    "address");
}

/* config_is_loopback: is host a loopback name or address literal? */
int
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
char *
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
