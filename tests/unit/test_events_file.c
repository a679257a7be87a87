/*
 * test_events_file: the event journal's record codec as tables: records that encode
 * and decode back the same, lines that must be refused (torn, corrupt, unknown type,
 * no id), type names, and the provider's queue id read from a 250 reply.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "events_file.h"
#include "t.h"

static const char *const good[] = {
	"{\"id\":1,\"time\":1700000000,\"type\":\"sent\",\"queue_id\":\"6560F0000000001\","
	    "\"message_id\":\"a@b\",\"recipient\":\"x@example.org\",\"account\":\"main\","
	    "\"reply\":\"250 2.0.0 Ok: queued as 4F2A1\",\"provider_id\":\"4F2A1\"}",
	"{\"id\":18446744073709,\"time\":0,\"type\":\"account\",\"account\":\"b\","
	    "\"state\":\"throttled\",\"until\":1700000600}",
	"{\"id\":2,\"time\":5,\"type\":\"failed\",\"reply\":\"550 \\u0000 nul\\nnewline\","
	    "\"permanent\":true}",
	"{\"id\":3,\"time\":5,\"type\":\"bounced\",\"diagnostic\":\"Ящик не существует\"}",
};

static const struct {
	const char	*line;
	const char	*why;
} bad[] = {
	{ "", "empty" },
	{ "1 00000000 {}", "crc" },
	{ "2 00000000 {\"id\":1}", "version" },
	{ "1 zzzzzzzz {\"id\":1,\"time\":1,\"type\":\"sent\"}", "hex" },
	{ "1 0000000", "short" },
};

/* line_for: js encoded as a record line, or NULL when encode refuses it. */
static char *
line_for(const char *js)
{
	json_t *o = json_loads(js, 0, NULL);
	char *l;
	size_t n;

	if (o != NULL && (l = events_file_encode(o, &n)) != NULL) {
		json_decref(o);
		return l;
	}
	json_decref(o);
	return NULL;
}

int
main(void)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *o = json_loads(good[i], JSON_ALLOW_NUL, NULL), *back = NULL;
		size_t n;
		char *l = events_file_encode(o, &n);

		CHECK(l != NULL && n == strlen(l) && l[n - 1] == '\n', "encode %zu", i);
		CHECK(l != NULL && memchr(l, '\n', n - 1) == NULL, "one line %zu", i);
		CHECK(l != NULL && events_file_decode(l, n - 1, &back) == 0, "decode %zu", i);
		CHECK(back != NULL && json_equal(o, back), "round trip %zu", i);
		/* every torn prefix and every single flipped octet is refused */
		for (size_t k = 0; l != NULL && k + 1 < n; k++) {
			json_t *x = NULL;

			CHECK(events_file_decode(l, k, &x) == -1 && x == NULL, "torn %zu at %zu",
			    i, k);
			l[k] ^= 0x20;
			CHECK(events_file_decode(l, n - 1, &x) == -1, "flip %zu at %zu", i, k);
			json_decref(x);
			l[k] ^= 0x20;
		}
		CHECK(back == NULL || events_file_id(back) ==
		    (uint64_t)json_integer_value(json_object_get(o, "id")), "id %zu", i);
		free(l);
		json_decref(o);
		json_decref(back);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *x = NULL;

		CHECK(events_file_decode(bad[i].line, strlen(bad[i].line), &x) == -1 &&
		    x == NULL, "bad: %s", bad[i].why);
	}
	/* encode refuses objects without a positive id, a time or a known type */
	static const char *const unenc[] = {
		"{\"time\":1,\"type\":\"sent\"}", "{\"id\":0,\"time\":1,\"type\":\"sent\"}",
		"{\"id\":1,\"type\":\"sent\"}", "{\"id\":1,\"time\":1,\"type\":\"nope\"}",
		"{\"id\":\"1\",\"time\":1,\"type\":\"sent\"}", "[1]",
	};
	for (size_t i = 0; i < sizeof(unenc) / sizeof(unenc[0]); i++) {
		char *l = line_for(unenc[i]);

		CHECK(l == NULL, "encode refuses %s", unenc[i]);
		free(l);
	}
	for (int t = 0; t < EVENTS_NTYPES; t++)
		CHECK(events_file_type_parse(events_file_type_name(t)) == t, "type %d", t);
	CHECK(events_file_type_parse("Sent") == -1, "case");
	CHECK(events_file_type_parse(NULL) == -1, "NULL");
	CHECK_STR(events_file_type_name(EVENTS_NTYPES), "?", "out of range");

	static const struct { const char *reply, *want; } pid[] = {
		{ "250 2.0.0 Ok: queued as 4F2A1", "4F2A1" },
		{ "250 OK id=1rXyZ-000Abc-Qw", "1rXyZ-000Abc-Qw" },
		{ "250 2.0.0 <abc@mx.example> Queued mail for delivery", "abc@mx.example" },
		{ "250 Ok (queued as ABC123)", "ABC123" },
		{ "250 2.0.0 OK 1701 a1-2345abc.12 - gsmtp", NULL },
		{ "250 <>", NULL },
		{ NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(pid) / sizeof(pid[0]); i++) {
		char *got = events_file_provider_id(pid[i].reply);

		if (pid[i].want == NULL)
			CHECK(got == NULL, "provider id of %s: %s", pid[i].reply, got);
		else
			CHECK(got != NULL && strcmp(got, pid[i].want) == 0, "provider id of %s: %s",
			    pid[i].reply, got ? got : "(null)");
		free(got);
	}
	T_DONE();
}
