/*
 * relayctl_queue: the queue commands of relayctl, printed as tables for people or
 * JSON (--json) for scripts.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "humantime.h"
#include "jsonstr.h"
#include "relayctl_client.h"
#include "relayctl_queue.h"

#define RELAYCTL_QUEUE_USAGE \
	"usage: relayctl queue list [--json]\n" \
	"       relayctl queue show ID [--json]\n" \
	"       relayctl queue hold|release|delete ID... | - | --all\n" \
	"                 [--recipient ADDR] [--domain DOMAIN] [--sender ADDR]\n" \
	"         (-: the ids on standard input, one a line)\n"

/* relayctl_queue_time: the unix time t as "2026-12-04 14:05:09 +0100 (5m ago)",
 * "-" for none. */
static const char *
relayctl_queue_time(json_t *t, char *buf, size_t len)
{
	if (!json_is_integer(t) || json_integer_value(t) == 0)
		return "-";
	return humantime_both((time_t)json_integer_value(t), time(NULL), buf, len);
}

/* relayctl_queue_list: the queue as a table, oldest first. */
static int
relayctl_queue_list(int json)
{
	json_t *r, *m;
	size_t i;
	int rc;
	char age[32], next[32];

	if ((rc = relayctl_client_call("queue-list", NULL, &r)) != 0)
		return rc;
	if (json) {
		relayctl_client_print_json(r);
		json_decref(r);
		return 0;
	}
	printf("%-16s %-8s %6s %9s %-8s %-40s %s\n", "ID", "STATE", "AGE", "SIZE", "NEXT",
	    "SENDER -> RECIPIENTS", "WHY IT WAITS");
	json_array_foreach(json_object_get(r, "queue"), i, m) {
		json_t *rc_ = json_object_get(m, "recipients"), *na;
		const char *why = json_string_value(json_object_get(m, "why"));
		const char *last = json_string_value(json_object_get(m, "last_reply"));
		char who[256];

		snprintf(who, sizeof(who), "<%s> -> %s%s", json_string_value(json_object_get(m,
		    "sender")), json_array_size(rc_) ? json_string_value(json_array_get(rc_, 0)) :
		    "(none)", json_array_size(rc_) > 1 ? " ..." : "");
		na = json_object_get(m, "next_attempt");
		if (json_is_integer(na))
			humantime_span(json_integer_value(na) - (long long)time(NULL), next,
			    sizeof(next));
		else
			snprintf(next, sizeof(next), "-");
		printf("%-16s %-8s %6s %9lld %-8s %-40s %s\n",
		    json_string_value(json_object_get(m, "id")),
		    json_string_value(json_object_get(m, "state")),
		    humantime_span(json_integer_value(json_object_get(m, "age")), age,
		    sizeof(age)), json_integer_value(json_object_get(m, "size")), next, who,
		    why ? why : last ? last : "");
	}
	printf("%zu message(s)%s\n", json_array_size(json_object_get(r, "queue")),
	    json_is_true(json_object_get(r, "loading")) ? " so far (still loading the spool)" :
	    "");
	json_decref(r);
	return 0;
}

/* relayctl_queue_show: one message: envelope, header, history. */
static int
relayctl_queue_show(const char *id, int json)
{
	json_t *args = json_pack("{s:o}", "id", jsonstr_new(id)), *r, *v;
	size_t i;
	int rc = relayctl_client_call("queue-show", args, &r);
	const char *why;
	char b1[80], b2[80];

	json_decref(args);
	if (rc != 0)
		return rc;
	if (json) {
		relayctl_client_print_json(r);
		json_decref(r);
		return 0;
	}
	why = json_string_value(json_object_get(r, "why"));
	printf("id:         %s\nstate:      %s\nwhy:        %s\nreceived:   %s from %s\n"
	    "sender:     <%s>\nmessage-id: %s\nsize:       %lld\n"
	    "attempts:   %lld (%lld of them hit a throttle)\nnext:       %s\n",
	    json_string_value(json_object_get(r, "id")),
	    json_string_value(json_object_get(r, "state")), why ? why : "-",
	    relayctl_queue_time(json_object_get(r, "time"), b1, sizeof(b1)),
	    json_string_value(json_object_get(r, "client")),
	    json_string_value(json_object_get(r, "from")),
	    json_string_value(json_object_get(r, "message_id")),
	    json_integer_value(json_object_get(r, "size")),
	    json_integer_value(json_object_get(r, "attempts")),
	    json_integer_value(json_object_get(r, "throttled")),
	    relayctl_queue_time(json_object_get(r, "next_attempt"), b2, sizeof(b2)));
	json_array_foreach(json_object_get(r, "recipients"), i, v)
		printf("recipient:  <%s> %s\n", json_string_value(json_object_get(v, "address")),
		    json_string_value(json_object_get(v, "state")));
	printf("\nhistory:\n");
	json_array_foreach(json_object_get(r, "history"), i, v) {
		const char *d = json_string_value(json_object_get(v, "detail"));

		printf("  %s %-9s %s\n", relayctl_queue_time(json_object_get(v, "time"), b1,
		    sizeof(b1)), json_string_value(json_object_get(v, "event")), d ? d : "");
	}
	printf("\nheader:\n%s", json_string_value(json_object_get(r, "headers")));
	json_decref(r);
	return 0;
}

/* relayctl_queue_stdin: the queue ids on standard input, one a line, added to ids. */
static void
relayctl_queue_stdin(json_t *ids)
{
	char line[256];

	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *p = line + strspn(line, " \t"), *e = p + strcspn(p, " \t\r\n");

		*e = '\0';
		if (*p != '\0')
			json_array_append_new(ids, jsonstr_new(p));
	}
}

/*
 * relayctl_queue_change: hold, release or delete the messages argv names (ids, "-"
 * for ids on stdin, --all, --recipient/--domain/--sender filters). Says how many
 * changed, and names each id not in the queue (exit 67 then).
 */
static int
relayctl_queue_change(int argc, char **argv)
{
	static const char *const filters[] = { "--recipient", "--domain", "--sender" };
	const char *op = argv[1], *key;
	json_t *args = json_object(), *ids = NULL, *r, *v;
	char cmd[32];
	size_t i;
	int rc;

	for (int a = 2; a < argc; a++) {
		size_t f;

		for (f = 0; f < sizeof(filters) / sizeof(filters[0]); f++)
			if (strcmp(argv[a], filters[f]) == 0)
				break;
		if (f < sizeof(filters) / sizeof(filters[0])) {
			if (a + 1 == argc) {
				fprintf(stderr, "relayctl: queue %s: %s needs a value\n", op,
				    argv[a]);
				json_decref(args);
				json_decref(ids);
				return 64;
			}
			json_object_set_new(args, argv[a] + 2, jsonstr_new(argv[a + 1]));
			a++;
		} else if (strcmp(argv[a], "--all") == 0)
			json_object_set_new(args, "all", json_true());
		else if (argv[a][0] == '-' && argv[a][1] != '\0') {
			fprintf(stderr, "relayctl: queue %s: unknown option %s\n%s", op, argv[a],
			    RELAYCTL_QUEUE_USAGE);
			json_decref(args);
			json_decref(ids);
			return 64;
		} else {
			if (ids == NULL)
				ids = json_array();
			if (strcmp(argv[a], "-") == 0)
				relayctl_queue_stdin(ids);
			else
				json_array_append_new(ids, jsonstr_new(argv[a]));
		}
	}
	if (ids != NULL)
		json_object_set_new(args, "ids", ids);
	snprintf(cmd, sizeof(cmd), "queue-%s", op);
	rc = relayctl_client_call(cmd, args, &r);
	json_decref(args);
	if (rc != 0)
		return rc;
	json_array_foreach(json_object_get(r, "unknown"), i, v)
		fprintf(stderr, "relayctl: queue %s: no message %s in the queue\n", op,
		    json_string_value(v));
	rc = json_array_size(json_object_get(r, "unknown")) > 0 ? 67 : 0;
	json_object_del(r, "unknown");
	/* What is left is one count: held, released or deleted. */
	json_object_foreach(r, key, v)
		printf("%s: %lld message(s)\n", key, json_integer_value(v));
	json_decref(r);
	return rc;
}

int
relayctl_queue(int argc, char **argv)
{
	int json = argc > 2 && strcmp(argv[argc - 1], "--json") == 0;

	if (json)
		argc--;
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return relayctl_queue_list(json);
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return relayctl_queue_show(argv[2], json);
	if (argc >= 3 && (strcmp(argv[1], "hold") == 0 || strcmp(argv[1], "release") == 0 ||
	    strcmp(argv[1], "delete") == 0))
		return relayctl_queue_change(argc, argv);
	fprintf(stderr, "%s", RELAYCTL_QUEUE_USAGE);
	return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 64;
}

int
relayctl_flush(int argc, char **argv)
{
	json_t *r;
	int rc;

	if (argc != 1) {
		fprintf(stderr, "usage: relayctl flush\n");
		return 64;
	}
	if ((rc = relayctl_client_call("flush", NULL, &r)) != 0)
		return rc;
	printf("flush: %lld deferred message(s) to be attempted now (within quota)\n",
	    json_integer_value(json_object_get(r, "flushed")));
	json_decref(r);
	/* Say what a flush does not lift, rather than let "now" mislead. */
	if (relayctl_client_call("status", NULL, &r) == 0) {
		json_t *a;
		size_t i;

		json_array_foreach(json_object_get(r, "accounts"), i, a) {
			const char *st = json_string_value(json_object_get(a, "state"));
			json_t *until = json_object_get(a, strcmp(st, "exhausted") == 0 ?
			    "next_free" : "until");
			char when[48] = "", rel[40];

			if (strcmp(st, "ready") == 0 || strcmp(st, "backoff") == 0)
				continue;	/* a flush lifts a backoff */
			if (json_is_integer(until) && json_integer_value(until) > 0)
				snprintf(when, sizeof(when), " (%s)", humantime_rel((time_t)
				    json_integer_value(until), time(NULL), rel, sizeof(rel)));
			printf("flush: account %s is %s%s: it sends nothing until then%s\n",
			    json_string_value(json_object_get(a, "name")), st, when,
			    strcmp(st, "throttled") == 0 || strcmp(st, "disabled") == 0 ?
			    " (relayctl enable lifts it)" : "");
		}
		json_decref(r);
	}
	return 0;
}
