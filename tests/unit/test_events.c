/*
 * test_events: the journal on disk: ids go on across reopening; reading from any id
 * returns the rest in order, in batches and across segments; a torn last line is cut
 * at open and never read; types not kept are not written; the cursor survives; the
 * tap (events_set_tap) sees its types, kept or not.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "log.h"
#include "t.h"

/* What the tap saw: type, id (0: none), recipient, and the extra member "reason". */
static char tap_seen[1024];

/* tap: record one call of the journal's tap. */
static void
tap(enum events_type t, const json_t *ev, const struct queue_msg *m, void *arg)
{
	size_t o = strlen(tap_seen);
	const char *r = json_string_value(json_object_get(ev, "reason"));

	snprintf(tap_seen + o, sizeof(tap_seen) - o, "%s%s:%lld:%s:%s", o ? "," : "",
	    events_file_type_name(t), (long long)json_integer_value(json_object_get(ev, "id")),
	    json_string_value(json_object_get(ev, "recipient")), r ? r : "-");
	(*(int *)arg)++;
}

/* read_ids: the ids read after `after` in batches of max, as "1,2,3". */
static void
read_ids(int dirfd, uint64_t after, size_t max, char *buf, size_t len)
{
	struct events_pos pos = { 0, 0, 0 };
	size_t o = 0;

	buf[0] = '\0';
	for (int rounds = 0; rounds < 1000; rounds++) {
		json_t *a = json_array();
		ssize_t n = events_read(dirfd, after, max, a, &pos);

		for (ssize_t i = 0; i < n; i++) {
			after = events_file_id(json_array_get(a, (size_t)i));
			o += (size_t)snprintf(buf + o, len - o, "%s%llu", o ? "," : "",
			    (unsigned long long)after);
		}
		json_decref(a);
		if (n <= 0)
			break;
	}
}

int
main(void)
{
	char dir[] = "/tmp/test_events.XXXXXX", path[4200], ids[4096];
	struct events *e;
	int fd;

	log_init(0, 3);
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	e = events_open(NULL, dir, EVENTS_TYPES_DEFAULT, 3600);
	CHECK(e != NULL && events_last_id(e) == 0, "fresh journal");
	events_emit(EVENTS_SENT, "Q1", "m@x", "a@b", "main", json_pack("{s:s}", "reply", "250"));
	events_emit(EVENTS_QUEUED, "Q1", "m@x", "a@b", NULL, NULL);	/* not kept */
	events_emit(EVENTS_FAILED, "Q2", NULL, "c@d", "main", NULL);
	CHECK(events_last_id(e) == 2, "two kept: %llu", (unsigned long long)events_last_id(e));
	read_ids(events_dirfd(e), 0, 1, ids, sizeof(ids));
	CHECK_STR(ids, "1,2", "read one at a time");
	json_t *a = json_array();
	CHECK(events_read(events_dirfd(e), 0, 10, a, NULL) == 2, "read all");
	json_t *ev = json_array_get(a, 0);
	CHECK_STR(json_string_value(json_object_get(ev, "type")), "sent", "type");
	CHECK_STR(json_string_value(json_object_get(ev, "reply")), "250", "extra member");
	CHECK_STR(json_string_value(json_object_get(ev, "queue_id")), "Q1", "queue_id");
	CHECK(json_is_null(json_object_get(json_array_get(a, 1), "message_id")), "null mid");
	json_decref(a);
	events_set_cursor(e, 1);
	events_close(e);

	/* A torn line at the end (kill -9 in a write) is cut; ids go on. */
	snprintf(path, sizeof(path), "%s/events/%016x", dir, 1);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd != -1 && write(fd, "1 0000", 6) == 6, "tear");
	close(fd);
	e = events_open(NULL, dir, 1u << EVENTS_QUEUED | EVENTS_TYPES_DEFAULT, 3600);
	CHECK(e != NULL && events_last_id(e) == 2 && events_cursor(e) == 1, "reopen: %llu",
	    e ? (unsigned long long)events_last_id(e) : 0);
	for (int i = 0; i < 300; i++)
		events_emit(EVENTS_QUEUED, "Q3", NULL, "x@y", NULL, NULL);
	read_ids(events_dirfd(e), 299, 7, ids, sizeof(ids));
	CHECK_STR(ids, "300,301,302", "the tail, after the torn line");
	read_ids(events_dirfd(e), 0, 1000, ids, sizeof(ids));
	CHECK(strncmp(ids, "1,2,3,4,", 8) == 0 && strlen(ids) > 1000, "all in order");
	events_close(e);

	/* A second segment (as after a restart with an old one) reads on across. */
	snprintf(path, sizeof(path), "%s/events/%016x", dir, 1);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size > 0, "segment");
	e = events_open(NULL, dir, EVENTS_TYPES_DEFAULT, 3600);
	CHECK(e != NULL && events_last_id(e) == 302, "ids across reopen");
	snprintf(path, sizeof(path), "%s/events/%016x", dir, 400);
	fd = open(path, O_WRONLY | O_CREAT, 0600);	/* an empty newer segment */
	close(fd);
	events_close(e);
	e = events_open(NULL, dir, EVENTS_TYPES_DEFAULT, 3600);
	CHECK(e != NULL && events_last_id(e) == 399, "an empty segment's name counts: %llu",
	    e ? (unsigned long long)events_last_id(e) : 0);
	events_emit(EVENTS_SENT, "Q4", NULL, "z@y", NULL, NULL);
	read_ids(events_dirfd(e), 300, 2, ids, sizeof(ids));
	CHECK_STR(ids, "301,302,400", "across segments");
	events_close(e);

	/* The tap sees its types whether the journal keeps them (with their id) or not
	 * (without one), after the record; other types not at all. */
	int calls = 0;
	e = events_open(NULL, dir, 1u << EVENTS_SENT, 3600);
	events_set_tap(e, 1u << EVENTS_FAILED | 1u << EVENTS_SENT, tap, &calls);
	events_emit(EVENTS_FAILED, "Q6", NULL, "f@y", NULL, json_pack("{s:s}", "reason",
	    "rejected"));
	events_emit(EVENTS_SENT, "Q6", NULL, "s@y", NULL, NULL);
	events_emit(EVENTS_QUEUED, "Q6", NULL, "q@y", NULL, NULL);
	CHECK_STR(tap_seen, "failed:0:f@y:rejected,sent:401:s@y:-", "the tap's calls");
	CHECK(events_last_id(e) == 401, "only sent journaled: %llu",
	    (unsigned long long)events_last_id(e));
	events_set_tap(e, 0, NULL, NULL);
	events_emit(EVENTS_FAILED, "Q7", NULL, "g@y", NULL, NULL);
	CHECK(calls == 2, "no tap once removed: %d", calls);
	events_close(e);
	events_emit(EVENTS_SENT, "Q5", NULL, "z@y", NULL, NULL);	/* closed: no-op */
	t_rmtree(dir);
	T_DONE();
}
