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

#include "humantime.h"
#include "config.h"
#include "config_dump.h"
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
static int relayctl_config(int, char **);
static int relayctl_test(int, char **);

#define RELAYCTL_EX_TEMPFAIL	75	/* relayctl test: the account's server failed it */

static const char *relayctl_config_path = RELAYCTL_DEFAULT_CONFIG;	/* -c */

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
	  "  queue hold|release|delete ID...|-|--all [--recipient ADDR] [--domain DOMAIN]\n"
	  "                                   [--sender ADDR]  (-: ids on stdin, one a line)" },
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
	{ "test", relayctl_test, 0,
	  "test ACCOUNT [--json]            connect, TLS, EHLO and log in to the account's\n"
	  "                                   server as relayd does, send nothing, say what\n"
	  "                                   it found (msmtp --serverinfo)" },
	{ "config", relayctl_config, 1,
	  "config [--json]                  the effective configuration of -c CONFIG, presets\n"
	  "                                   and defaults filled in, secrets masked (offline)" },
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
	printf("\nExit status: 0 done; 64 usage; 65 bad input; 66 a file or the journal cannot "
	    "be read;\n  67 no such queue id or account; 69 relayd not reachable; 70 relayd "
	    "refused, or an internal error;\n  %d relayctl test: the account's server, its TLS or "
	    "the login failed.\n", RELAYCTL_EX_TEMPFAIL);
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

/* relayctl_when: "in 12m" style for a unix time, "-" for none. */
static const char *
relayctl_when(json_t *t, char *buf, size_t len)
{
	long long v = json_integer_value(t);

	if (!json_is_integer(t) || v == 0)
		return "-";
	if (v <= (long long)time(NULL))
		return "now";
	return humantime_rel((time_t)v, time(NULL), buf, len);
}

/* relayctl_left: "55/145", the units left in the hour and the day ("-": no limit). */
static const char *
relayctl_left(json_t *acct, char *buf, size_t len)
{
	json_t *h = json_object_get(json_object_get(acct, "hour"), "remaining");
	json_t *d = json_object_get(json_object_get(acct, "day"), "remaining");
	char hs[24] = "-", ds[24] = "-";

	if (json_is_integer(h))
		snprintf(hs, sizeof(hs), "%lld", json_integer_value(h));
	if (json_is_integer(d))
		snprintf(ds, sizeof(ds), "%lld", json_integer_value(d));
	snprintf(buf, len, "%s/%s", hs, ds);
	return buf;
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
		    json_is_integer(ok) ? relayctl_when(ok, b1, sizeof(b1)) : "never");
		if (err != NULL)
			printf("; last error %s: %s", relayctl_when(json_object_get(w,
			    "last_error_at"), b2, sizeof(b2)), err);
		printf("\n");
	}
}

/* relayctl_status_shared_account: for a shared account, all hosts' use and this one's. */
static void
relayctl_status_shared_account(json_t *acct)
{
	json_t *sh = json_object_get(acct, "shared");

	if (!json_is_object(sh))
		return;
	printf("%-12s %-10s shared: all hosts %lld this hour, %lld today; this host %lld and "
	    "%lld%s\n", "", "", json_integer_value(json_object_get(sh, "hour_all")),
	    json_integer_value(json_object_get(sh, "day_all")),
	    json_integer_value(json_object_get(json_object_get(acct, "hour"), "used")),
	    json_integer_value(json_object_get(json_object_get(acct, "day"), "used")),
	    json_is_true(json_object_get(sh, "connected")) ? "" :
	    " (Redis unreachable: as last seen)");
}

/* relayctl_status_domains: a line per domains entry (per recipient domain limits). */
static void
relayctl_status_domains(json_t *list)
{
	char b1[64], b2[64], b3[32];
	json_t *d;
	size_t i;

	if (json_array_size(list) > 0)
		printf("\n%-24s %-10s %-11s %-11s %-10s %s\n", "DOMAIN", "STATE", "HOUR", "DAY",
		    "NEXT FREE", "WAITING");
	json_array_foreach(list, i, d)
		printf("%-24s %-10s %-11s %-11s %-10s %lld\n",
		    json_string_value(json_object_get(d, "match")),
		    json_string_value(json_object_get(d, "state")),
		    relayctl_window(json_object_get(d, "hour"), NULL, b1, sizeof(b1)),
		    relayctl_window(json_object_get(d, "day"), NULL, b2, sizeof(b2)),
		    relayctl_when(json_object_get(d, "next_free"), b3, sizeof(b3)),
		    json_integer_value(json_object_get(d, "waiting")));
}

/* relayctl_status_shared: the Redis server of the shared accounts, up or not. */
static void
relayctl_status_shared(json_t *sh)
{
	char at[80];

	if (!json_is_object(sh))
		return;
	printf("\nshared: %s %s since %s (this host: %s)\n",
	    json_string_value(json_object_get(sh, "redis")),
	    json_is_true(json_object_get(sh, "connected")) ? "connected" : "unreachable",
	    humantime_both((time_t)json_integer_value(json_object_get(sh, "since")), time(NULL),
	    at, sizeof(at)), json_string_value(json_object_get(sh, "host")));
}

static int
relayctl_status(int argc, char **argv)
{
	json_t *r, *acct, *q;
	size_t i;
	int rc;
	char b1[64], b2[32], b3[32], b4[32], b5[32], at[80];

	if ((rc = relayctl_client_call("status", NULL, &r)) != 0)
		return rc;
	if (relayctl_has_flag(argc, argv, "--json")) {
		relayctl_client_print_json(r);
		json_decref(r);
		return 0;
	}
	printf("%-12s %-10s %-11s %-11s %-11s %-10s %-10s %s\n", "ACCOUNT", "STATE", "HOUR",
	    "DAY", "LEFT H/D", "NEXT FREE", "UNTIL", "WHY / LAST REPLY");
	json_array_foreach(json_object_get(r, "accounts"), i, acct) {
		const char *why = json_string_value(json_object_get(acct, "why"));
		const char *last = json_string_value(json_object_get(acct, "last_reply"));
		json_t *conf = json_object_get(acct, "configured");

		/* UNTIL: the end of a throttle or of a connection backoff */
		printf("%-12s %-10s %-11s %-11s %-11s %-10s %-10s %s\n",
		    json_string_value(json_object_get(acct, "name")),
		    json_string_value(json_object_get(acct, "state")),
		    relayctl_window(json_object_get(acct, "hour"), json_object_get(conf,
		    "per_hour"), b1, sizeof(b1)),
		    relayctl_window(json_object_get(acct, "day"), json_object_get(conf,
		    "per_day"), b2, sizeof(b2)), relayctl_left(acct, b5, sizeof(b5)),
		    relayctl_when(json_object_get(acct, "next_free"), b3, sizeof(b3)),
		    relayctl_when(json_object_get(acct, "until"), b4, sizeof(b4)),
		    why ? why : last ? last : "");
		if ((why = json_string_value(json_object_get(acct, "limits_why"))) != NULL)
			printf("%-12s %-10s limits below the configured: %s\n", "", "", why);
		if (json_is_integer(json_object_get(acct, "until")) && json_integer_value(
		    json_object_get(acct, "until")) > (long long)time(NULL))
			printf("%-12s %-10s until %s\n", "", "", humantime_both((time_t)
			    json_integer_value(json_object_get(acct, "until")), time(NULL), at,
			    sizeof(at)));
		relayctl_status_shared_account(acct);
	}
	relayctl_status_domains(json_object_get(r, "domains"));
	relayctl_status_shared(json_object_get(r, "shared"));
	q = json_object_get(r, "queue");
	printf("\nqueue: %lld message(s)%s: %lld waiting, %lld in flight, %lld deferred, "
	    "%lld held; drains %s\n", json_integer_value(json_object_get(q, "total")),
	    json_is_true(json_object_get(q, "loading")) ? " so far (still loading the spool)" :
	    "",
	    json_integer_value(json_object_get(q, "waiting")),
	    json_integer_value(json_object_get(q, "inflight")),
	    json_integer_value(json_object_get(q, "deferred")),
	    json_integer_value(json_object_get(q, "held")),
	    relayctl_drain(q, b1, sizeof(b1)));
	if (json_is_integer(json_object_get(q, "stalled_since"))) {
		printf("stalled: since %s, no account can send the waiting mail: %s\n",
		    humantime_both((time_t)json_integer_value(json_object_get(q,
		    "stalled_since")), time(NULL), at, sizeof(at)),
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

/* relayctl_config: relayctl config [--json]: the file of -c as relayd would use it. */
static int
relayctl_config(int argc, char **argv)
{
	int json = argc == 2 && strcmp(argv[1], "--json") == 0;
	struct config *cfg;
	json_t *v;

	if (argc > 2 || (argc == 2 && !json)) {
		fprintf(stderr, "usage: relayctl [-c CONFIG] config [--json]\n");
		return 64;
	}
	if ((cfg = config_load(relayctl_config_path)) == NULL) {
		fprintf(stderr, "relayctl: config: %s cannot be used (the problems are above)\n",
		    relayctl_config_path);
		return 65;
	}
	v = config_dump(cfg);
	config_free(cfg);
	if (json)
		relayctl_client_print_json(v);
	else
		config_dump_lines(v, "", stdout);
	json_decref(v);
	return 0;
}

/* relayctl_test: relayctl test ACCOUNT [--json]: the account's server, without mail. */
static int
relayctl_test(int argc, char **argv)
{
	int json = argc == 3 && strcmp(argv[2], "--json") == 0, rc;
	json_t *args, *r, *tls, *v;
	const char *err;
	char when[80];
	size_t i;

	if (argc != 2 && !json) {
		fprintf(stderr, "usage: relayctl test ACCOUNT [--json]\n");
		return 64;
	}
	args = json_pack("{s:o}", "account", jsonstr_new(argv[1]));
	rc = relayctl_client_call("account-test", args, &r);
	json_decref(args);
	if (rc != 0)
		return rc;
	rc = json_is_true(json_object_get(r, "ok")) ? 0 : RELAYCTL_EX_TEMPFAIL;
	if (json) {
		relayctl_client_print_json(r);
		json_decref(r);
		return rc;
	}
	tls = json_object_get(r, "tls");
	printf("account:     %s\nserver:      %s port %lld (%s)\n",
	    json_string_value(json_object_get(r, "account")),
	    json_string_value(json_object_get(r, "server")),
	    json_integer_value(json_object_get(r, "port")),
	    json_string_value(json_object_get(r, "relay")));
	if ((err = json_string_value(json_object_get(r, "greeting"))) != NULL)
		printf("greeting:    %s\n", err);
	if (json_is_object(tls)) {
		printf("TLS:         %s, %s, certificate verified for the host name\n",
		    json_string_value(json_object_get(tls, "version")),
		    json_string_value(json_object_get(tls, "cipher")));
		printf("certificate: %s\nissuer:      %s\n",
		    json_string_value(json_object_get(tls, "subject")),
		    json_string_value(json_object_get(tls, "issuer")));
		if (json_is_integer(json_object_get(tls, "not_after")))
			printf("expires:     %s\n", humantime_both((time_t)json_integer_value(
			    json_object_get(tls, "not_after")), time(NULL), when, sizeof(when)));
	} else
		printf("TLS:         none\n");
	if (json_array_size(json_object_get(r, "ehlo")) > 0) {
		printf("EHLO:       ");
		json_array_foreach(json_object_get(r, "ehlo"), i, v)
			printf(" %s%s", json_string_value(v), i + 1 < json_array_size(
			    json_object_get(r, "ehlo")) ? "," : "\n");
	}
	if ((err = json_string_value(json_object_get(r, "auth_mechanism"))) != NULL)
		printf("auth:        %s\n", err);
	if (rc == 0)
		printf("result:      ok: %s\n", json_string_value(json_object_get(r, "result")));
	else {
		printf("result:      FAILED\n");
		fprintf(stderr, "relayctl: test %s: %s\n", argv[1], json_string_value(
		    json_object_get(r, "error")));
	}
	json_decref(r);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *config = RELAYCTL_DEFAULT_CONFIG, *sock = NULL;
	int ch, given = 0;

	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "+c:s:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = relayctl_config_path = optarg;
			given = 1;
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
			else if (relayctl_client_socket_from_config(config, given) == -1)
				return 69;
		}
		return relayctl_cmds[i].run(argc, argv);
	}
	fprintf(stderr, "relayctl: unknown command '%s' (relayctl --help lists them)\n",
	    argv[0]);
	return 64;
}
