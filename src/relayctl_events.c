/*
 * relayctl_events: print the event journal (contract in relayctl_events.h). Text: one
 * line per event, "ID TIME TYPE QUEUE_ID RECIPIENT ACCOUNT DETAIL"; --json: one JSON
 * object per line (JSON Lines), exactly as the webhook posts them. --follow polls
 * the journal twice a second for new events until interrupted.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "jsonstr.h"
#include "relayctl_client.h"
#include "relayctl_events.h"
#include "xmalloc.h"

#define RELAYCTL_EVENTS_SPOOL	"/var/spool/relayd"
#define RELAYCTL_EVENTS_BATCH	1000
#define RELAYCTL_EVENTS_POLL_US	500000

static const char *relayctl_events_path = "/etc/relayd/relay.conf";

void
relayctl_events_config(const char *path)
{
	relayctl_events_path = path;
}

/* relayctl_events_since: --since as an id (digits) or a UTC time; -1 if neither. */
static int
relayctl_events_since(const char *s, uint64_t *id, time_t *t)
{
	static const char *const fmts[] = {
		"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
		"%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M", "%Y-%m-%d",
	};
	size_t n = strspn(s, "0123456789");
	struct tm tm;

	if (n > 0 && s[n] == '\0' && n < 20) {
		*id = strtoull(s, NULL, 10);
		return 0;
	}
	if (s[0] == '@' && s[1] != '\0' && strspn(s + 1, "0123456789") == strlen(s + 1)) {
		*t = (time_t)strtoll(s + 1, NULL, 10);	/* @UNIX */
		return 0;
	}
	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		const char *end;

		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, fmts[i], &tm)) != NULL && *end == '\0') {
			*t = timegm(&tm);
			return 0;
		}
	}
	return -1;
}

/* relayctl_events_detail: what the event says besides the common fields. */
static const char *
relayctl_events_detail(json_t *ev)
{
	static const char *const keys[] = { "reply", "diagnostic", "why", "reason" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(ev, keys[i]));

		if (v != NULL)
			return v;
	}
	return "";
}

/* relayctl_events_print: one event, as text or JSON. */
static void
relayctl_events_print(json_t *ev, int as_json)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	time_t t = (time_t)json_integer_value(json_object_get(ev, "time"));
	const char *state = json_string_value(json_object_get(ev, "state"));
	const char *kind = json_string_value(json_object_get(ev, "kind"));
	char when[32], what[48];
	struct tm tm;

	if (as_json) {
		relayctl_client_print_json(ev);
		return;
	}
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(what, sizeof(what), "%s%s%s", type, state || kind ? ":" : "",
	    state ? state : kind ? kind : "");
	printf("%-8lld %s %-16s %-16s %s %s ", (long long)events_file_id(ev), when, what,
	    json_string_value(json_object_get(ev, "queue_id")) ?
	    json_string_value(json_object_get(ev, "queue_id")) : "-",
	    json_string_value(json_object_get(ev, "recipient")) ?
	    json_string_value(json_object_get(ev, "recipient")) : "-",
	    json_string_value(json_object_get(ev, "account")) ?
	    json_string_value(json_object_get(ev, "account")) : "-");
	jsonstr_fputs(relayctl_events_detail(ev), stdout);
	putchar('\n');
}

static void
relayctl_events_usage(void)
{
	fprintf(stderr, "usage: relayctl events [--json] [--follow] [--since ID|TIME] "
	    "[--type T[,T...]]\n  TIME: 2026-12-04T10:00:00Z, 2026-12-04 or @UNIX (UTC)\n");
}

int
relayctl_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, as_json = 0, follow = 0, dirfd;
	unsigned types = 0;
	uint64_t after = 0;
	time_t since_t = 0;
	struct events_pos pos = { 0, 0, 0 };
	char *spool, *dir;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			as_json = 1;
			break;
		case 'f':
			follow = 1;
			break;
		case 's':
			if (relayctl_events_since(optarg, &after, &since_t) == -1) {
				fprintf(stderr, "relayctl: --since %s: not an event id nor a time\n",
				    optarg);
				relayctl_events_usage();
				return 64;
			}
			break;
		case 't':
			for (char *p = optarg, *tok; (tok = strsep(&p, ",")) != NULL; ) {
				int k = events_file_type_parse(tok);

				if (k < 0) {
					fprintf(stderr, "relayctl: --type %s: not an event type "
					    "(queued, sent, deferred, failed, bounced, suppressed, "
					    "account)\n", tok);
					return 64;
				}
				types |= 1u << k;
			}
			break;
		default:
			relayctl_events_usage();
			return 64;
		}
	}
	if (optind != argc) {
		relayctl_events_usage();
		return 64;
	}
	if ((spool = relayctl_client_config_string(relayctl_events_path, "spool_dir",
	    RELAYCTL_EVENTS_SPOOL)) == NULL)
		return 78;
	dir = xasprintf("%s/events", spool);
	free(spool);
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "relayctl: no event journal in %s: %s (is events = { ... } "
		    "in the config?)\n", dir, strerror(errno));
		free(dir);
		return 66;
	}
	free(dir);
	for (;;) {
		json_t *a = json_array(), *ev;
		ssize_t n = events_read(dirfd, after, RELAYCTL_EVENTS_BATCH, a, &pos);
		size_t i;

		json_array_foreach(a, i, ev) {
			int t = events_file_type_parse(json_string_value(json_object_get(ev,
			    "type")));

			after = events_file_id(ev);
			if ((types == 0 || (types & (1u << t))) &&
			    json_integer_value(json_object_get(ev, "time")) >= since_t)
				relayctl_events_print(ev, as_json);
		}
		json_decref(a);
		fflush(stdout);
		if (n == RELAYCTL_EVENTS_BATCH)
			continue;
		if (!follow)
			break;
		usleep(RELAYCTL_EVENTS_POLL_US);
	}
	close(dirfd);
	return 0;
}
