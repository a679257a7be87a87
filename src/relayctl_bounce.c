/*
 * relayctl_bounce: the bounce commands of relayctl. "bounces" and "suppress" ask the
 * running relayd (bounce_store's control commands); "bounce-parse" works offline.
 *
 * "relayctl bounce-parse FILE... [--json]": read saved messages and
 * run them through bounce_parse, offline (no relayd needed). Operators use it to ask
 * "why did this bounce?"; tests/bounce_corpus.py uses --json to measure the parser.
 * With --json, one JSON object per file and line:
 *   {"file":"x.eml","is_bounce":true,"type":"failure","message_id":"...",
 *    "recipients":[{"recipient":"a@example.org","status":"5.1.1","kind":"hard",
 *                   "action":"failed","reply_code":550,"diagnostic":"...",
 *                   "permanent":true,"reason":"user_unknown",
 *                   "original_recipient":"a@example.org","final_recipient":null}]}
 * (original_recipient and final_recipient: the report's RFC 3464 fields, null when
 * it has none; reason: bounce_status.c's taxonomy).
 * An unreadable file gets {"file":...,"error":"..."} (or a line on stderr without
 * --json) and makes the exit code 66; the other files are still parsed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bounce_parse.h"
#include "bounce_status.h"
#include "jsonstr.h"
#include "relayctl_bounce.h"
#include "relayctl_client.h"
#include "xmalloc.h"

#define RELAYCTL_BOUNCE_MAX	(64 * 1024 * 1024)	/* larger files are refused */

/* relayctl_bounce_read: the whole of path in a new buffer; NULL with errno set. */
static char *
relayctl_bounce_read(const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (len > RELAYCTL_BOUNCE_MAX) {
			free(buf);
			fclose(fp);
			errno = EFBIG;
			return NULL;
		}
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		int e = errno ? errno : EIO;
		free(buf);
		fclose(fp);
		errno = e;
		return NULL;
	}
	fclose(fp);
	*lenp = len;
	return buf;
}

/* relayctl_bounce_json: print one file's report as a JSON line. */
static void
relayctl_bounce_json(const char *path, const struct bounce_report *r)
{
	json_t	*o = json_object(), *rcpts = json_array();

	json_object_set_new(o, "file", jsonstr_new(path));
	json_object_set_new(o, "is_bounce", json_boolean(r->type == BOUNCE_FAILURE));
	json_object_set_new(o, "type", json_string(bounce_parse_type_name(r->type)));
	json_object_set_new(o, "message_id", jsonstr_new(r->message_id));
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct bounce_rcpt *rc = &r->rcpts[i];
		json_t *j = json_object();
		json_object_set_new(j, "recipient", jsonstr_new(rc->recipient));
		json_object_set_new(j, "status", jsonstr_new(rc->status));
		json_object_set_new(j, "kind", json_string(bounce_parse_kind_name(rc->kind)));
		json_object_set_new(j, "action", jsonstr_new(rc->action));
		json_object_set_new(j, "reply_code", rc->reply_code ?
		    json_integer(rc->reply_code) : json_null());
		json_object_set_new(j, "diagnostic", jsonstr_new(rc->diagnostic));
		json_object_set_new(j, "permanent", json_boolean(rc->permanent));
		json_object_set_new(j, "reason",
		    json_string(bounce_status_reason_name(rc->reason)));
		json_object_set_new(j, "original_recipient", rc->original_recipient[0] ?
		    jsonstr_new(rc->original_recipient) : json_null());
		json_object_set_new(j, "final_recipient", rc->final_recipient[0] ?
		    jsonstr_new(rc->final_recipient) : json_null());
		json_array_append_new(rcpts, j);
	}
	json_object_set_new(o, "recipients", rcpts);
	/* Every string went through jsonstr: dumping does not fail. */
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(o);
}

/* relayctl_bounce_text: print one file's report for a human. */
static void
relayctl_bounce_text(const char *path, const struct bounce_report *r)
{
	static const char *const what[] = {
		[BOUNCE_NONE] = "not a bounce",
		[BOUNCE_FAILURE] = "bounce (delivery failed)",
		[BOUNCE_DELAY] = "delay notice (still being retried; not a failure)",
		[BOUNCE_DELIVERED] = "delivery report (delivered)",
		[BOUNCE_AUTOREPLY] = "auto-reply (not a bounce)",
		[BOUNCE_FEEDBACK] = "feedback/abuse report (not a bounce)",
	};

	/* What the file says may be in any charset: printed by jsonstr's rule. */
	jsonstr_fputs(path, stdout);
	printf(": %s\n", what[r->type]);
	if (r->message_id != NULL) {
		fputs("  original message-id: <", stdout);
		jsonstr_fputs(r->message_id, stdout);
		fputs(">\n", stdout);
	}
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct bounce_rcpt *rc = &r->rcpts[i];
		fputs("  recipient ", stdout);
		jsonstr_fputs(rc->recipient, stdout);
		fputs(": ", stdout);
		jsonstr_fputs(rc->status[0] ? rc->status : "-", stdout);
		printf(" %s %s %s", rc->permanent ? "permanent" : "temporary",
		    bounce_status_reason_name(rc->reason), bounce_parse_kind_name(rc->kind));
		if (rc->action[0] != '\0') {
			fputs(" action=", stdout);
			jsonstr_fputs(rc->action, stdout);
		}
		if (rc->reply_code != 0)
			printf(" reply=%d", rc->reply_code);
		printf("\n");
		if (strcmp(rc->final_recipient, rc->recipient) != 0 &&
		    rc->final_recipient[0] != '\0') {
			fputs("    final-recipient ", stdout);
			jsonstr_fputs(rc->final_recipient, stdout);
			fputs("\n", stdout);
		}
		if (rc->diagnostic[0] != '\0') {
			fputs("    ", stdout);
			jsonstr_fputs(rc->diagnostic, stdout);
			fputs("\n", stdout);
		}
	}
}

int
relayctl_bounce_parse(int argc, char **argv)
{
	int	 json = 0, nfiles = 0, status = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--") != 0)
			nfiles++;
	}
	if (nfiles == 0) {
		fprintf(stderr, "usage: relayctl bounce-parse FILE... [--json]\n");
		return 64;
	}
	bounce_parse_init();
	for (int i = 1, opts = 1; i < argc; i++) {
		const char *path = argv[i];
		if (opts && strcmp(path, "--json") == 0)
			continue;
		if (opts && strcmp(path, "--") == 0) {
			opts = 0;
			continue;
		}

		size_t len;
		char *buf = relayctl_bounce_read(path, &len);
		if (buf == NULL) {
			const char *e = strerror(errno);
			fprintf(stderr, "relayctl: bounce-parse: %s: %s\n", path, e);
			if (json) {
				json_t *o = json_pack("{s:o, s:s}", "file", jsonstr_new(path),
				    "error", e);
				char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
				if (s != NULL)
					puts(s);
				free(s);
				json_decref(o);
			}
			status = 66;
			continue;
		}
		struct bounce_report r;
		bounce_parse(buf, len, &r);
		if (json)
			relayctl_bounce_json(path, &r);
		else
			relayctl_bounce_text(path, &r);
		bounce_report_clear(&r);
		free(buf);
	}
	fflush(stdout);
	return status;
}

/* relayctl_bounce_str: a member's string value, "-" if absent or null. */
static const char *
relayctl_bounce_str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL && *s != '\0' ? s : "-";
}

int
relayctl_bounces(int argc, char **argv)
{
	json_t *args = json_object(), *r, *rec;
	int json = 0, rc;
	size_t i;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--json") == 0)
			json = 1;
		else if (strcmp(argv[a], "--limit") == 0 && a + 1 < argc) {
			char *end;
			long n = strtol(argv[++a], &end, 10);

			if (*argv[a] == '\0' || *end != '\0' || n < 0) {
				fprintf(stderr, "relayctl: bounces: --limit needs a number, not "
				    "\"%s\"\n", argv[a]);
				json_decref(args);
				return 64;
			}
			json_object_set_new(args, "limit", json_integer(n));
		} else {
			fprintf(stderr, "usage: relayctl bounces [--limit N] [--json]\n");
			json_decref(args);
			return 64;
		}
	}
	rc = relayctl_client_call("bounces", args, &r);
	json_decref(args);
	if (rc != 0)
		return rc;
	if (json) {
		relayctl_client_print_json(r);
		json_decref(r);
		return 0;
	}
	if (json_array_size(json_object_get(r, "bounces")) == 0)
		printf("no bounces recorded\n");
	else
		printf("%-20s %-32s %-4s %-7s %-16s %-10s %s\n", "TIME", "RECIPIENT", "KIND",
		    "STATUS", "QUEUE ID", "ACCOUNT", "DIAGNOSTIC");
	json_array_foreach(json_object_get(r, "bounces"), i, rec)
		printf("%-20s %-32s %-4s %-7s %-16s %-10s %s\n", relayctl_bounce_str(rec, "time"),
		    relayctl_bounce_str(rec, "recipient"), relayctl_bounce_str(rec, "kind"),
		    relayctl_bounce_str(rec, "status"), relayctl_bounce_str(rec, "queue_id"),
		    relayctl_bounce_str(rec, "account"), relayctl_bounce_str(rec, "diagnostic"));
	json_decref(r);
	return 0;
}

/* relayctl_suppress_usage: the subcommands, on stderr. */
static int
relayctl_suppress_usage(void)
{
	fprintf(stderr, "usage: relayctl suppress list [--json]\n"
	    "       relayctl suppress add ADDRESS\n"
	    "       relayctl suppress remove ADDRESS\n");
	return 64;
}

int
relayctl_suppress(int argc, char **argv)
{
	json_t *r, *e;
	size_t i;
	int rc;

	if (argc < 2)
		return relayctl_suppress_usage();
	if (strcmp(argv[1], "list") == 0) {
		int json = argc == 3 && strcmp(argv[2], "--json") == 0;

		if (argc > 3 || (argc == 3 && !json))
			return relayctl_suppress_usage();
		if ((rc = relayctl_client_call("suppress-list", NULL, &r)) != 0)
			return rc;
		if (json)
			relayctl_client_print_json(r);
		else if (json_array_size(json_object_get(r, "suppressed")) == 0)
			printf("the suppression list is empty\n");
		else {
			printf("%-40s %-20s %s\n", "ADDRESS", "SINCE", "REASON");
			json_array_foreach(json_object_get(r, "suppressed"), i, e)
				printf("%-40s %-20s %s\n", relayctl_bounce_str(e, "address"),
				    relayctl_bounce_str(e, "since"), relayctl_bounce_str(e, "reason"));
		}
		json_decref(r);
		return 0;
	}
	if (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "remove") == 0) {
		int add = argv[1][0] == 'a';
		json_t *args;

		if (argc != 3)
			return relayctl_suppress_usage();
		args = json_pack("{s:o}", "address", jsonstr_new(argv[2]));
		rc = relayctl_client_call(add ? "suppress-add" : "suppress-remove", args, &r);
		json_decref(args);
		if (rc != 0)
			return rc;
		if (!add)
			printf("%s removed from the suppression list\n",
			    relayctl_bounce_str(r, "address"));
		else if (json_is_true(json_object_get(r, "added")))
			printf("%s added to the suppression list\n",
			    relayctl_bounce_str(r, "address"));
		else
			printf("%s was already on the suppression list\n",
			    relayctl_bounce_str(r, "address"));
		json_decref(r);
		if (!add)
			return 0;
		/* Queued mail to it is dropped at once, not when it comes to be sent. */
		if ((rc = relayctl_client_call("queue-drop-suppressed", NULL, &r)) != 0)
			return rc;
		printf("%lld queued recipient(s) on the list dropped\n",
		    json_integer_value(json_object_get(r, "dropped")));
		json_decref(r);
		return 0;
	}
	fprintf(stderr, "relayctl: suppress: unknown subcommand '%s'\n", argv[1]);
	return relayctl_suppress_usage();
}
