/*
 * relayctl: the operator's command. Most commands talk to a running relayd over its
 * control socket (found through -c CONFIG or -s SOCKET); a few (bounce-parse) work
 * offline. Output is a table for people, or one JSON document with --json.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonstr.h"
#include "relayctl_bounce.h"
#include "relayctl_client.h"
#include "relayctl_events.h"
#include "relayctl_oauth.h"
#include "relayctl_queue.h"
#include "version.h"

#define RELAYCTL_DEFAULT_CONFIG	"/etc/relayd/relay.conf"

static int relayctl_help(int, char **);
static int relayctl_status(int, char **);
static int relayctl_enable(int, char **);
static int relayctl_reload(int, char **);

static const struct relayctl_cmd {
	const char	*name;
	int		(*run)(int, char **);
	int		 offline;	/* needs no running relayd */
	const char	*usage;
} relayctl_cmds[] = {
	{ "status", relayctl_status, 0,
	  "status [--json]                  accounts (state, quota used and left), queue" },
	{ "enable", relayctl_enable, 0,
	  "enable ACCOUNT [--reset-learned] let a disabled or throttled account send again;\n"
	  "                                   --reset-learned: its configured limits again" },
	{ "queue", relayctl_queue, 0,
	  "queue list [--json]              queued mail: id, state, age, size, next attempt\n"
	  "  queue show ID [--json]           envelope, header and history of one message\n"
	  "  queue hold|release|delete ID|--all" },
	{ "reload", relayctl_reload, 0,
	  "reload                           re-read the configuration (a bad one changes nothing)" },
	{ "flush", relayctl_flush, 0,
	  "flush                            attempt all deferred mail now (within quota)" },
	{ "bounces", relayctl_bounces, 0,
	  "bounces [--limit N] [--json]     bounces found in the watched mailboxes, newest first" },
	{ "suppress", relayctl_suppress, 0,
	  "suppress list|add|remove [ADDR]  the suppression list (list takes --json)" },
	{ "bounce-parse", relayctl_bounce_parse, 1,
	  "bounce-parse FILE... [--json]    parse saved messages: did they bounce, and why" },
	{ "oauth", relayctl_oauth, 0,
	  "oauth login ACCOUNT              sign an OAuth account in (device or browser flow)\n"
	  "  oauth status [--json]            each OAuth account's token state" },
	{ "events", relayctl_events, 1,
	  "events [--json] [--follow] [--since ID|TIME] [--type T]\n"
	  "                                   what became of the mail: the event journal,\n"
	  "                                   read from the spool (relayd need not run)" },
	{ "help", relayctl_help, 1,
	  "help                             this text" },
};

static int
relayctl_help(int argc, char **argv)
{
	printf("usage: relayctl [-c CONFIG | -s SOCKET] COMMAND [ARGS]\n\n"
	    "  -c CONFIG   relayd's configuration, to find its control socket\n"
	    "              (default %s)\n"
	    "  -s SOCKET   the control socket itself\n"
	    "  -V, --version  print the version; -h, --help  this text\n\ncommands:\n", RELAYCTL_DEFAULT_CONFIG);
	for (size_t i = 0; i < sizeof(relayctl_cmds) / sizeof(relayctl_cmds[0]); i++)
		printf("  %s\n", relayctl_cmds[i].usage);
	printf("\nExit status: 0 done, 64 usage, 69 relayd not reachable, 70 relayd refused.\n");
	return 0;
}

/* relayctl_has_flag: is flag among the command's arguments? */
static int
relayctl_has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], flag) == 0)
			return 1;
	return 0;
}

/* relayctl_span: d seconds as "12s", "12m" or "2h05m", with before and after it. */
static const char *
relayctl_span(long long d, const char *before, const char *after, char *buf, size_t len)
{
	if (d < 120)
		snprintf(buf, len, "%s%llds%s", before, d, after);
	else if (d < 7200)
		snprintf(buf, len, "%s%lldm%s", before, d / 60, after);
	else
		snprintf(buf, len, "%s%lldh%02lldm%s", before, d / 3600, d / 60 % 60, after);
	return buf;
}

/* relayctl_when: "in 12m" style for a unix time, "-" for none. */
static const char *
relayctl_when(json_t *t, char *buf, size_t len)
{
	long long v = json_integer_value(t), d = v - (long long)time(NULL);

	if (!json_is_integer(t) || v == 0)
		return "-";
	if (d <= 0)
		return "now";
	return relayctl_span(d, "in ", "", buf, len);
}

/* relayctl_ago: "12m ago" style for a unix time in the past. */
static const char *
relayctl_ago(json_t *t, char *buf, size_t len)
{
	long long d = (long long)time(NULL) - json_integer_value(t);

	return relayctl_span(d < 0 ? 0 : d, "", " ago", buf, len);
}

/* relayctl_window: "5/100" for a quota window, "5/-" when unlimited, "5/3<100" when
 * the effective limit is below conf, the configured one. */
static const char *
relayctl_window(json_t *w, json_t *conf, char *buf, size_t len)
{
	json_t *limit = json_object_get(w, "limit");

	if (json_is_integer(limit) && json_is_integer(conf) &&
	    json_integer_value(conf) != json_integer_value(limit))
		snprintf(buf, len, "%lld/%lld<%lld", json_integer_value(json_object_get(w,
		    "used")), json_integer_value(limit), json_integer_value(conf));
	else if (json_is_integer(limit))
		snprintf(buf, len, "%lld/%lld", json_integer_value(json_object_get(w, "used")),
		    json_integer_value(limit));
	else
		snprintf(buf, len, "%lld/-", json_integer_value(json_object_get(w, "used")));
	return buf;
}

/* relayctl_status_events: the event journal's line of relayctl status, if it is on. */
static void
relayctl_status_events(json_t *e)
{
	const char *err = json_string_value(json_object_get(e, "last_error"));

	if (!json_is_true(json_object_get(e, "journal")))
		return;
	if (json_object_get(e, "webhook") == NULL) {
		printf("events: journal only (no webhook), last id %lld\n",
		    json_integer_value(json_object_get(e, "last_id")));
		return;
	}
	printf("events: %lld undelivered, oldest %llds old, last id %lld, webhook %s%s%s\n",
	    json_integer_value(json_object_get(e, "backlog")),
	    json_integer_value(json_object_get(e, "oldest_age")),
	    json_integer_value(json_object_get(e, "last_id")),
	    json_string_value(json_object_get(e, "state")), err ? ": " : "", err ? err : "");
}

/* relayctl_drain: when the queue drains: "in 23h43m", "over 60 days", "never (...)". */
static const char *
relayctl_drain(json_t *q, char *buf, size_t len)
{
	const char *note = json_string_value(json_object_get(q, "drain_note"));

	if (json_is_integer(json_object_get(q, "drain_estimate")))
		return relayctl_when(json_object_get(q, "drain_estimate"), buf, len);
	if (note != NULL && strcmp(note, "over 60 days") == 0)
		return "in over 60 days";
	snprintf(buf, len, "never as things are (%s)", note ? note : "no account can send");
	return buf;
}

/* relayctl_status_watch: a line per account whose bounces are watched: connected or
 * not, its last complete check, its last error. */
static void
relayctl_status_watch(json_t *list)
{
	json_t *w;
	size_t i;
	char b1[32], b2[32];

	json_array_foreach(list, i, w) {
		const char *err = json_string_value(json_object_get(w, "last_error"));
		json_t *ok = json_object_get(w, "last_success");

		printf("bounces: %s %s (%s), last check %s", json_string_value(json_object_get(w,
		    "account")), json_is_true(json_object_get(w, "connected")) ? "connected" :
		    "NOT connected", json_string_value(json_object_get(w, "state")),
		    json_is_integer(ok) ? relayctl_ago(ok, b1, sizeof(b1)) : "never");
		if (err != NULL)
			printf("; last error %s: %s", relayctl_ago(json_object_get(w,
			    "last_error_at"), b2, sizeof(b2)), err);
		printf("\n");
	}
}

static int
relayctl_status(int argc, char **argv)
{
	json_t *r, *acct, *q;
	size_t i;
	int rc;
	char b1[64], b2[32], b3[32], b4[32];
	time_t since;

	if ((rc = relayctl_client_call("status", NULL, &r)) != 0)
		return rc;
	if (relayctl_has_flag(argc, argv, "--json")) {
		relayctl_client_print_json(r);
		json_decref(r);
		return 0;
	}
	printf("%-12s %-10s %-11s %-11s %-10s %-10s %s\n", "ACCOUNT", "STATE", "HOUR", "DAY",
	    "NEXT FREE", "UNTIL", "WHY / LAST REPLY");
	json_array_foreach(json_object_get(r, "accounts"), i, acct) {
		const char *why = json_string_value(json_object_get(acct, "why"));
		const char *last = json_string_value(json_object_get(acct, "last_reply"));
		json_t *conf = json_object_get(acct, "configured");

		/* UNTIL: the end of a throttle or of a connection backoff */
		printf("%-12s %-10s %-11s %-11s %-10s %-10s %s\n",
		    json_string_value(json_object_get(acct, "name")),
		    json_string_value(json_object_get(acct, "state")),
		    relayctl_window(json_object_get(acct, "hour"), json_object_get(conf,
		    "per_hour"), b1, sizeof(b1)),
		    relayctl_window(json_object_get(acct, "day"), json_object_get(conf,
		    "per_day"), b2, sizeof(b2)),
		    relayctl_when(json_object_get(acct, "next_free"), b3, sizeof(b3)),
		    relayctl_when(json_object_get(acct, "until"), b4, sizeof(b4)),
		    why ? why : last ? last : "");
		if ((why = json_string_value(json_object_get(acct, "limits_why"))) != NULL)
			printf("%-12s %-10s limits below the configured: %s\n", "", "", why);
	}
	q = json_object_get(r, "queue");
	printf("\nqueue: %lld message(s)%s: %lld waiting, %lld in flight, %lld deferred; "
	    "drains %s\n", json_integer_value(json_object_get(q, "total")),
	    json_is_true(json_object_get(q, "loading")) ? " so far (still loading the spool)" :
	    "",
	    json_integer_value(json_object_get(q, "waiting")),
	    json_integer_value(json_object_get(q, "inflight")),
	    json_integer_value(json_object_get(q, "deferred")),
	    relayctl_drain(q, b1, sizeof(b1)));
	if (json_is_integer(json_object_get(q, "stalled_since"))) {
		since = (time_t)json_integer_value(json_object_get(q, "stalled_since"));
		strftime(b2, sizeof(b2), "%Y-%m-%d %H:%M:%S", localtime(&since));
		printf("stalled: since %s (%s), no account can send the waiting mail: %s\n", b2,
		    relayctl_ago(json_object_get(q, "stalled_since"), b1, sizeof(b1)),
		    json_string_value(json_object_get(q, "stalled_why")) ?
		    json_string_value(json_object_get(q, "stalled_why")) : "(no reason given)");
	}
	if (json_integer_value(json_object_get(q, "quarantined")) > 0)
		printf("quarantine: %lld bad queue file(s) set aside, never delivered (see the "
		    "log and the spool's quarantine/)\n",
		    json_integer_value(json_object_get(q, "quarantined")));
	relayctl_status_events(json_object_get(r, "events"));
	relayctl_status_watch(json_object_get(r, "bounce_watch"));
	json_decref(r);
	return 0;
}

static int
relayctl_enable(int argc, char **argv)
{
	json_t *args, *r;
	int rc, reset = argc == 3 && strcmp(argv[2], "--reset-learned") == 0;

	if (argc != 2 && !reset) {
		fprintf(stderr, "usage: relayctl enable ACCOUNT [--reset-learned]\n");
		return 64;
	}
	args = json_pack("{s:o, s:b}", "account", jsonstr_new(argv[1]), "reset_learned", reset);
	rc = relayctl_client_call("enable", args, &r);
	json_decref(args);
	if (rc != 0)
		return rc;
	printf("%s: enabled%s\n", argv[1], reset ? " (learned limits reset)" : "");
	json_decref(r);
	return 0;
}

static int
relayctl_reload(int argc, char **argv)
{
	json_t *r;
	int rc;

	if (argc != 1) {
		fprintf(stderr, "usage: relayctl reload\n");
		return 64;
	}
	if ((rc = relayctl_client_call("reload", NULL, &r)) != 0)
		return rc;
	printf("reloaded %s (%lld account(s))\n", json_string_value(json_object_get(r,
	    "config")), json_integer_value(json_object_get(r, "accounts")));
	json_decref(r);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config = RELAYCTL_DEFAULT_CONFIG, *sock = NULL;
	int ch;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "+c:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			return relayctl_help(argc, argv);
		case 'V':
			printf("relayctl %s\n", RELAYD_VERSION);
			return 0;
		default:
			fprintf(stderr, "relayctl: relayctl --help lists the options\n");
			return 64;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || strcmp(argv[0], "--help") == 0) {
		relayctl_help(argc, argv);
		return argc < 1 ? 64 : 0;
	}
	relayctl_oauth_config(config);
	relayctl_events_config(config);
	for (size_t i = 0; i < sizeof(relayctl_cmds) / sizeof(relayctl_cmds[0]); i++) {
		if (strcmp(argv[0], relayctl_cmds[i].name) != 0)
			continue;
		if (argc == 2 && strcmp(argv[1], "--help") == 0) {	/* relayctl CMD --help */
			printf("usage: relayctl [-c CONFIG | -s SOCKET] %s\n", relayctl_cmds[i].usage);
			return 0;
		}
		if (!relayctl_cmds[i].offline) {
			if (sock != NULL)
				relayctl_client_socket(sock);
			else if (relayctl_client_socket_from_config(config) == -1)
				return 69;
		}
		return relayctl_cmds[i].run(argc, argv);
	}
	fprintf(stderr, "relayctl: unknown command '%s' (relayctl --help lists them)\n",
	    argv[0]);
	return 64;
}
