/*
 * config_dump: the effective configuration as relayctl config prints it (postconf -n
 * with every default and preset value filled in): a loaded struct config turned into
 * JSON, keyed like relay.conf, every secret masked. Pure: no I/O.
 */
#ifndef RELAYD_CONFIG_DUMP_H
#define RELAYD_CONFIG_DUMP_H

#include <jansson.h>

#include "config.h"

/* What a secret that is set shows as; an unset one is null. */
#define CONFIG_DUMP_MASK	"********"

/*
 * config_dump: cfg as a new JSON object: the top-level keys, "retry", "suppress",
 * "events" and "accounts" (each with its limits, learn, warmup, window, backoff,
 * rules, bounces and oauth as relayd uses them). Passwords, client secrets and the
 * webhook secret are CONFIG_DUMP_MASK; no secret's text is in the result.
 */
json_t	*config_dump(const struct config *cfg);

/*
 * config_dump_lines: v (config_dump's result) as "key = value" lines, one a leaf,
 * accounts by name ("accounts.main.limits.per_hour = 60"), arrays of strings joined
 * with ", ", written to fp.
 */
void	 config_dump_lines(json_t *v, const char *prefix, FILE *fp);

#endif
