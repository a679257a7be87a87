/*
 * test_queue_file: the queue file codec as tables: an envelope written and sealed
 * reads back the same; version 1 envelopes still read; each kind of damage (huge,
 * negative or inconsistent sizes, a truncated envelope, garbage, a changed octet)
 * is refused with its reason; state records apply as written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_file.h"
#include "t.h"
#include "xmalloc.h"

#define ID	"6B13246101E95257"
#define V1HEAD	"relayd-queue 1\nid: " ID "\ntime: 1732300000\nclient: 127.0.0.1\n" \
		"from: app@example.org\nrcpt: a@example.org\nrcpt: b@example.org\n" \
		"message-id: <x@y>\n"
#define BODY	"Subject: hi\r\n\r\nbody\r\n"	/* 21 octets, header 15 */
#define SEALED(hs, size, crc) "header-size: " hs "\nsize: " size "\ncrc: " crc "\n\n"

/* Version 1 files (no env-crc): each damage is refused; fsize is the text's length. */
static const struct {
	const char	*text;
	const char	*why;		/* NULL: it loads */
} v1[] = {
	{ V1HEAD SEALED("15", "00000000000000000021", "1a2b3c4d") BODY, NULL },
	/* huge, negative, inconsistent sizes */
	{ V1HEAD SEALED("99999999999999", "00000000000000000021", "1a2b3c4d") BODY,
	  "header-size is larger than the message" },
	{ V1HEAD SEALED("99999999999999999999999", "00000000000000000021", "1a2b3c4d") BODY,
	  "header-size is not a number" },
	{ V1HEAD SEALED("-5", "00000000000000000021", "1a2b3c4d") BODY,
	  "header-size is not a number" },
	{ V1HEAD SEALED("22", "00000000000000000021", "1a2b3c4d") BODY,
	  "header-size is larger than the message" },
	{ V1HEAD SEALED("15", "00000000000000000099", "1a2b3c4d") BODY,
	  "shorter than its size" },
	{ V1HEAD SEALED("15", "18000000000000000000", "1a2b3c4d") BODY,
	  "shorter than its size" },
	{ V1HEAD SEALED("15", "99999999999999999999", "1a2b3c4d") BODY,
	  "size is not a number" },
	{ V1HEAD SEALED("15", "-0000000000000000021", "1a2b3c4d") BODY,
	  "size is not a number" },
	{ V1HEAD SEALED("15", "21", "1a2b3c4d") BODY, "size is not a number" },
	{ V1HEAD SEALED("15", "????????????????????", "????????") BODY, "never sealed" },
	{ V1HEAD SEALED("15", "00000000000000000021", "1a2b3c4") BODY, "crc is not" },
	{ V1HEAD SEALED("15", "00000000000000000021", "1A2B3C4D") BODY, "crc is not" },
	/* truncated envelope, garbage */
	{ V1HEAD "header-size: 15\nsize: 0000", "no end (truncated)" },
	{ V1HEAD "header-size: 15\n", "no end (truncated)" },
	{ "relayd-queue", "not a queue file" },
	{ "", "not a queue file" },
	{ "\x7f" "ELF\x02\x01\x01\x00garbage\n\n", "not a queue file" },
	{ "relayd-queue 3\nid: " ID "\n\n", "not a queue file" },
	{ "relayd-queue 1\ngarbage\n\n", "not \"key: value\"" },
	{ "relayd-queue 1\nid: " ID "\n\n", "never sealed" },
	/* fields missing, twice, wrong */
	{ "relayd-queue 1\nid: " ID "\ntime: 1\nclient: x\nfrom: a@b\nmessage-id: <x>\n"
	  SEALED("0", "00000000000000000000", "00000000"), "is missing" },
	{ V1HEAD "id: " ID "\n" SEALED("15", "00000000000000000021", "1a2b3c4d") BODY,
	  "there twice" },
	{ "relayd-queue 1\nid: 0000000000000001\ntime: 1\nclient: x\nfrom: a@b\nrcpt: c@d\n"
	  "message-id: <x>\n" SEALED("0", "00000000000000000000", "00000000"),
	  "names another message" },
	{ "relayd-queue 1\nid: " ID "\ntime: -1\nclient: x\nfrom: a@b\nrcpt: c@d\n"
	  "message-id: <x>\n" SEALED("0", "00000000000000000000", "00000000"),
	  "time is not a time" },
	{ "relayd-queue 1\nid: " ID "\ntime: 1\nclient: x\tz\nfrom: a@b\nrcpt: c@d\n"
	  "message-id: <x>\n" SEALED("0", "00000000000000000000", "00000000"),
	  "control character" },
	{ "relayd-queue 1\nid: " ID "\ntime: 1\nclient: x\nfrom: \nrcpt: c@d\n"
	  "message-id: <x>\nfuture-key: whatever\n" SEALED("0", "00000000000000000000",
	  "00000000"), NULL },
	{ V1HEAD "header-size: 15\nsize: 00000000000000000021\ncrc: 1a2b3c4d\n"
	  "env-crc: 00000000\n\n" BODY, "env-crc in a version 1" },
};

/* decode: text (of its full length, as the whole file) into a fresh message. */
static enum queue_file_result
decode(const char *text, size_t len, struct queue_msg *m, const char **why)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", ID);
	*why = NULL;
	return queue_file_env_decode(text, len, len, m, why);
}

static void
test_v1(void)
{
	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++) {
		struct queue_msg m;
		const char *why;
		enum queue_file_result r = decode(v1[i].text, strlen(v1[i].text), &m, &why);

		if (v1[i].why == NULL)
			CHECK(r == QUEUE_FILE_OK, "v1 case %zu: refused: %s", i, why);
		else
			CHECK(r == QUEUE_FILE_BAD && why && strstr(why, v1[i].why),
			    "v1 case %zu: want \"%s\", got %d \"%s\"", i, v1[i].why, r,
			    why ? why : "");
		queue_file_env_clear(&m);
	}
	/* The good one, field by field. */
	struct queue_msg m;
	const char *why, *t = v1[0].text;

	CHECK(decode(t, strlen(t), &m, &why) == QUEUE_FILE_OK, "v1 good");
	CHECK(m.nrcpt == 2 && strcmp(m.rcpts[1].addr, "b@example.org") == 0, "rcpts");
	CHECK(m.ctime == 1732300000 && m.size == 21 && m.header_size == 15 &&
	    m.crc == 0x1a2b3c4d, "numbers");
	CHECK(strcmp(t + m.data_off, BODY) == 0, "data_off %llu",
	    (unsigned long long)m.data_off);
	CHECK_STR(m.client, "127.0.0.1", "client");
	CHECK_STR(m.sender, "app@example.org", "from");
	CHECK_STR(m.message_id, "<x@y>", "message-id");
	queue_file_env_clear(&m);
	/* Only part of a longer file: read more. */
	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "%s", ID);
	CHECK(queue_file_env_decode(t, 40, strlen(t), &m, &why) == QUEUE_FILE_SHORT,
	    "a partial read asks for more");
	queue_file_env_clear(&m);
}

/* written: an envelope encoded and sealed for a BODY message, with BODY after it. */
static char *
written(size_t *len)
{
	struct queue_msg m;
	struct queue_rcpt r[2] = { { .addr = "a@example.org" }, { .addr = "b@example.org" } };
	uint32_t env_crc;
	char *env;
	size_t n;

	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "%s", ID);
	m.ctime = 1732300000;
	m.client = "127.0.0.1";
	m.sender = "";
	m.message_id = "<x@y>";
	m.rcpts = r;
	m.nrcpt = 2;
	m.header_size = 15;
	env = queue_file_env_encode(&m, &n, &env_crc);
	{
		struct queue_msg p;
		const char *why;

		CHECK(decode(env, n, &p, &why) == QUEUE_FILE_BAD && strstr(why, "never sealed"),
		    "an unsealed envelope is refused");
		queue_file_env_clear(&p);
	}
	queue_file_seal(env + n - QUEUE_FILE_SEAL_LEN, env_crc, strlen(BODY),
	    queue_file_crc(0, BODY, strlen(BODY)));
	env = xrealloc(env, n + strlen(BODY) + 1);
	memcpy(env + n, BODY, strlen(BODY) + 1);
	*len = n + strlen(BODY);
	return env;
}

static void
test_v2(void)
{
	size_t len;
	char *f = written(&len);
	struct queue_msg m;
	const char *why;

	CHECK(decode(f, len, &m, &why) == QUEUE_FILE_OK, "v2 round trip: %s", why);
	CHECK(m.nrcpt == 2 && m.size == strlen(BODY) && m.header_size == 15 &&
	    m.ctime == 1732300000 && m.crc == queue_file_crc(0, BODY, strlen(BODY)),
	    "v2 fields");
	CHECK(m.sender && m.sender[0] == '\0', "empty sender");
	CHECK(strcmp(f + m.data_off, BODY) == 0, "v2 data_off");
	queue_file_env_clear(&m);
	CHECK(strncmp(f, QUEUE_FILE_MAGIC, strlen(QUEUE_FILE_MAGIC)) == 0, "magic 2");

	/* Any one octet of the envelope changed (but the blank line): refused. */
	size_t envlen = strstr(f, "\n\n") - f + 1;
	int refused = 0, tried = 0;

	for (size_t i = 0; i < envlen; i++) {
		char *g = xmalloc(len);

		memcpy(g, f, len);
		g[i] = g[i] == '7' ? '8' : '7';
		if (g[i] == f[i])
			g[i] = 'x';
		tried++;
		refused += decode(g, len, &m, &why) == QUEUE_FILE_BAD;
		queue_file_env_clear(&m);
		free(g);
	}
	CHECK(refused == tried, "a changed octet: %d of %d refused", refused, tried);

	/* header-size rewritten by hand (same width): the checksum catches it. */
	char *h = strstr(f, "header-size: 15");
	h[13] = '2';
	h[14] = '0';
	CHECK(decode(f, len, &m, &why) == QUEUE_FILE_BAD && strstr(why, "checksum"),
	    "header-size changed: %s", why ? why : "accepted");
	queue_file_env_clear(&m);
	free(f);
}

/* State records as written, applied back. */
static void
test_state(void)
{
	struct queue_msg m;
	struct queue_rcpt r[2] = { { .addr = "a@x" }, { .addr = "b@x" } };
	char buf[4096] = "";
	char *l;

	memset(&m, 0, sizeof(m));
	m.rcpts = r;
	m.nrcpt = 2;
	l = queue_file_done_record(1, QUEUE_RCPT_SENT, 100, "main", "250 OK\r\nid=1");
	CHECK_STR(l, "done: 1 sent 100 main 250 OK  id=1\n", "done record");
	strcat(buf, l);
	free(l);
	l = queue_file_deferred_record(101, 160, "451 \xcf\xee\xef\xfb\xf2\xea\xe0 later");
	CHECK_STR(l, "deferred: 101 160 451 \xcf\xee\xef\xfb\xf2\xea\xe0 later\n", "deferred");
	strcat(buf, l);
	free(l);
	l = queue_file_throttled_record(150, "451 4.7.1 slow\r\ndown");
	CHECK_STR(l, "throttled: 150 451 4.7.1 slow  down\n", "throttled");
	strcat(buf, l);
	strcat(buf, l);
	free(l);
	l = queue_file_hold_record(1, 200);
	CHECK_STR(l, "hold: 200\n", "hold");
	strcat(buf, l);
	free(l);
	strcat(buf, "done: 7 sent 1 main out of range\ngarbage\ndeferred: x\ndone: 0 failed");
	queue_file_state_apply(&m, buf, strlen(buf));
	CHECK(r[0].state == QUEUE_RCPT_PENDING && r[1].state == QUEUE_RCPT_SENT,
	    "states %d %d (a partial last line is no record)", r[0].state, r[1].state);
	CHECK(m.attempts == 1 && m.next_try == 160 && m.held == 1 && m.throttled == 2,
	    "attempts %d next %lld held %d throttled %d", m.attempts, (long long)m.next_try,
	    m.held, m.throttled);
	CHECK(m.last_reply && strcmp(m.last_reply, "451 \xcf\xee\xef\xfb\xf2\xea\xe0 later") == 0,
	    "last_reply");
	free(m.last_reply);
	l = queue_file_deferred_record(1, 2, "");
	free(l);
}

int
main(void)
{
	test_v1();
	test_v2();
	test_state();
	T_DONE();
}
