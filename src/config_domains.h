/*
 * config_domains: the top-level `domains` list of relay.conf, per recipient domain
 * limits held across all accounts (issue 16):
 *
 *   domains = ( { match = "gmail.com"; per_hour = 20; },
 *               { match = "*.example.com"; per_day = 500; } );
 *
 * match is a domain ("gmail.com": that domain only) or "*.example.com" (also written
 * ".example.com"): the subdomains of example.com, not example.com itself. Compared
 * without regard to case. A recipient counts against the first entry that matches it;
 * one entry's limit holds for all the domains it matches together. per_hour and
 * per_day count recipients in a sliding hour and day (0 or absent: no limit; one of
 * them must be set). config.c calls config_domains_parse; the scheduler asks
 * config_domain_match.
 */
#ifndef RELAYD_CONFIG_DOMAINS_H
#define RELAYD_CONFIG_DOMAINS_H

#include <stddef.h>

#include <libconfig.h>

/* One entry of the list (config.h's struct config holds them in order). */
struct config_domain {
	char		*match;		/* as written, in lower case ("*.example.com") */
	char		*domain;	/* the domain it names ("example.com") */
	int		 subdomains;	/* 1: "*.d" or ".d": d's subdomains, not d */
	int		 per_hour;	/* recipients per sliding hour; 0: no limit */
	int		 per_day;	/* per sliding day; 0: no limit */
};

/* What config.c lends the parser, so problems read like all others. */
struct config_domains_io {
	/* report: a problem with setting s: "file:line: key: msg" (counted there). */
	void	(*report)(void *arg, const config_setting_t *s, const char *msg);
	/* integer: member key of g within [min, max] into *out (untouched when absent
	 * or wrong; a problem is reported), read from the file's text so that a number
	 * libconfig would wrap is seen as written. */
	void	(*integer)(void *arg, const config_setting_t *g, const char *key,
		    long long min, long long max, long long *out);
	void	*arg;
};

/*
 * config_domains_parse: check the domains list (list may be NULL: none); the entries
 * in a new array (NULL when none), their count in *n. Every problem is reported
 * through io, naming the setting it is about.
 */
struct config_domain *config_domains_parse(const config_setting_t *list, size_t *n,
		    const struct config_domains_io *io);

/* config_domains_free: free n entries of d (d NULL: a no-op). */
void		 config_domains_free(struct config_domain *d, size_t n);

/*
 * config_domain_pattern: read a match pattern: "d" (*sub 0) or "*.d" / ".d" (*sub 1),
 * d a host name of letters, digits, hyphens and dots. Returns d in lower case (the
 * caller frees it), or NULL if text is not such a pattern. Pure.
 */
char		*config_domain_pattern(const char *text, int *sub);

/* config_domain_match: does entry d match a recipient at domain (no '@')? Pure. */
int		 config_domain_match(const struct config_domain *d, const char *domain);

#endif
