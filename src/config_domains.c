/*
 * config_domains: reading the `domains` list (see config_domains.h). The libconfig
 * settings are checked here; problems go back to config.c's reporting, so they read
 * like every other: "relay.conf:12: domains.[0].per_hour: must be ...".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_domains.h"
#include "xmalloc.h"

static const char *config_domains_keys[] = { "match", "per_hour", "per_day", NULL };

/* config_domains_error: report one problem, printf-style. */
static void __attribute__((format(printf, 3, 4)))
config_domains_error(const struct config_domains_io *io, const config_setting_t *s,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	io->report(io->arg, s, msg);
}

char *
config_domain_pattern(const char *text, int *sub)
{
	size_t label = 0;
	const char *p;
	char *d;

	*sub = 0;
	if (strncmp(text, "*.", 2) == 0) {
		text += 2;
		*sub = 1;
	} else if (text[0] == '.') {
		text++;
		*sub = 1;
	}
	if (*text == '\0' || strlen(text) > 253)
		return NULL;
	for (p = text; ; p++) {
		if (*p == '.' || *p == '\0') {
			/* A label: 1..63 characters, no hyphen at either end. */
			if (label == 0 || label > 63 || p[-1] == '-' || p[-(long)label] == '-')
				return NULL;
			if (*p == '\0')
				break;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-'))
			return NULL;
		label++;
	}
	d = xstrdup(text);
	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return d;
}

int
config_domain_match(const struct config_domain *d, const char *domain)
{
	size_t n = strlen(domain), k = strlen(d->domain);

	if (n > 0 && domain[n - 1] == '.')	/* an absolute name: the same domain */
		n--;
	if (!d->subdomains)
		return n == k && strncasecmp(domain, d->domain, k) == 0;
	return n > k + 1 && domain[n - k - 1] == '.' &&
	    strncasecmp(domain + n - k, d->domain, k) == 0;
}

/* config_domains_entry: check one entry g into d. */
static void
config_domains_entry(const config_setting_t *g, struct config_domain *d,
    const struct config_domains_io *io)
{
	const config_setting_t *s;
	const char *text;
	long long v = 0;

	if (!config_setting_is_group(g)) {
		config_domains_error(io, g, "each entry is a group { match = \"gmail.com\"; "
		    "per_hour = 20; }");
		return;
	}
	for (int i = 0; (s = config_setting_get_elem(g, (unsigned)i)) != NULL; i++) {
		size_t k;

		for (k = 0; config_domains_keys[k] != NULL &&
		    strcmp(config_domains_keys[k], config_setting_name(s)) != 0; k++)
			;
		if (config_domains_keys[k] == NULL)
			config_domains_error(io, s, "unknown key (allowed here: match, "
			    "per_hour, per_day)");
	}
	if ((s = config_setting_get_member(g, "match")) == NULL)
		config_domains_error(io, g, "match: missing (a domain, \"gmail.com\", or "
		    "its subdomains, \"*.example.com\")");
	else if ((text = config_setting_get_string(s)) == NULL)
		config_domains_error(io, s, "must be a string in double quotes");
	else if ((d->domain = config_domain_pattern(text, &d->subdomains)) == NULL)
		config_domains_error(io, s, "\"%s\" is not a domain (\"gmail.com\") or a "
		    "domain's subdomains (\"*.example.com\" or \".example.com\")", text);
	else
		d->match = xasprintf("%s%s", d->subdomains ? "*." : "", d->domain);
	io->integer(io->arg, g, "per_hour", 0, 1000000, &v);
	d->per_hour = (int)v;
	v = 0;
	io->integer(io->arg, g, "per_day", 0, 10000000, &v);
	d->per_day = (int)v;
	if (config_setting_get_member(g, "per_hour") == NULL &&
	    config_setting_get_member(g, "per_day") == NULL)
		config_domains_error(io, g, "needs per_hour or per_day (recipients in a "
		    "sliding hour or day)");
}

struct config_domain *
config_domains_parse(const config_setting_t *list, size_t *np,
    const struct config_domains_io *io)
{
	struct config_domain *d;
	size_t n;

	*np = 0;
	if (list == NULL)
		return NULL;
	if (!config_setting_is_list(list)) {
		config_domains_error(io, list, "must be a list "
		    "( { match = \"gmail.com\"; per_hour = 20; }, ... )");
		return NULL;
	}
	n = (size_t)config_setting_length(list);
	d = xcalloc(n ? n : 1, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

		config_domains_entry(g, &d[i], io);
		for (size_t j = 0; j < i && d[i].match != NULL; j++)
			if (d[j].match != NULL && strcmp(d[j].match, d[i].match) == 0)
				config_domains_error(io,
				    config_setting_get_member(g, "match"), "\"%s\" is the "
				    "match of entry %zu already", d[i].match, j);
	}
	*np = n;
	return d;
}

void
config_domains_free(struct config_domain *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].match);
		free(d[i].domain);
	}
	free(d);
}
