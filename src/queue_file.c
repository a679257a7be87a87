/*
 * queue_file: the text of a queue file, encoded and decoded (no I/O). queue.c writes
 * message files with it and appends the state records; queue_load.c reads them back.
 *
 * A message file, format version 2 (text up to the message, then the message itself):
 *
 *   relayd-queue 2
 *   id: 3F2A9C0B00000001             the file's name
 *   time: 1732300000                 accepted at (unix seconds)
 *   client: 127.0.0.1
 *   from: app@example.org            envelope sender, empty for <>
 *   rcpt: a@example.org              one line per recipient, in order
 *   message-id: <...>                the Message-ID it has, or will be given
 *   header-size: 1234                octets of the message's header block
 *   size: 00000000000000012345       message octets; fixed width      \
 *   crc: 1a2b3c4d                    CRC-32 of the message octets      > the sealed
 *   env-crc: 5e6f7a8b                CRC-32 of every octet above this /  part, written
 *   (empty line)                                                         at commit
 *   <size octets: the message, CRLF line ends, not dot-stuffed>
 *   <state records, appended one line each as delivery goes on:>
 *   done: 0 sent 1732300100 main 250 2.0.0 OK          recipient 0 is finished
 *   done: 1 failed 1732300100 main 550 5.1.1 unknown   recipient 1 failed for good
 *   deferred: 1732300100 1732300160 451 4.3.0 later    an attempt failed; next at
 *   throttled: 1732300150 451 4.7.1 rate limited       an attempt hit a throttle or
 *                                                      a disable: not the message's
 *                                                      fault, no retry step
 *   hold: 1732300200                                   put on hold by relayctl
 *   release: 1732300300                                released by relayctl
 *
 * Version 1 is the same without env-crc; it is still read. Values hold no control
 * characters (the writer makes them spaces). A reader takes a file only if every
 * field is there once (rcpt at least once), each is well formed, the checksum holds,
 * header-size <= size, and the file holds the whole message: a file that fails is
 * never delivered (queue_load.c quarantines it). Unknown keys before the sealed part
 * are skipped, for newer versions.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "queue_file.h"
#include "xmalloc.h"

#define QUEUE_FILE_MAGIC_LEN	(sizeof(QUEUE_FILE_MAGIC) - 1)
#define QUEUE_FILE_PLACEHOLDER	"size: ????????????????????\ncrc: ????????\nenv-crc: ????????\n\n"

_Static_assert(sizeof(QUEUE_FILE_PLACEHOLDER) - 1 == QUEUE_FILE_SEAL_LEN,
    "QUEUE_FILE_SEAL_LEN must match the sealed part");
_Static_assert(sizeof(QUEUE_FILE_MAGIC) == sizeof(QUEUE_FILE_MAGIC_V1),
    "both magics have the same length");

/* The envelope's fields; each may appear once (rcpt: at least once). */
enum queue_file_key {
	QF_ID, QF_TIME, QF_CLIENT, QF_FROM, QF_RCPT, QF_MSGID, QF_HSIZE, QF_SIZE, QF_CRC,
	QF_ENVCRC, QF_NKEYS
};

static const char *queue_file_keys[] = {
	[QF_ID] = "id", [QF_TIME] = "time", [QF_CLIENT] = "client", [QF_FROM] = "from",
	[QF_RCPT] = "rcpt", [QF_MSGID] = "message-id", [QF_HSIZE] = "header-size",
	[QF_SIZE] = "size", [QF_CRC] = "crc", [QF_ENVCRC] = "env-crc",
};
_Static_assert(sizeof queue_file_keys / sizeof queue_file_keys[0] == QF_NKEYS,
    "a name for every key");

uint32_t
queue_file_crc(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n > 0) {		/* zlib takes uInt lengths */
		uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = (uint32_t)crc32(crc, c, chunk);
		c += chunk;
		n -= chunk;
	}
	return crc;
}

char *
queue_file_sanitize(const char *s)
{
	char *c = xstrdup(s);

	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return c;
}

char *
queue_file_env_encode(const struct queue_msg *m, size_t *len, uint32_t *env_crc)
{
	size_t cap = 256 + QUEUE_FILE_SEAL_LEN, n;
	char *env;

	for (size_t i = 0; i < m->nrcpt; i++)
		cap += strlen(m->rcpts[i].addr) + 7;
	cap += strlen(m->sender) + strlen(m->client) + strlen(m->message_id);
	env = xmalloc(cap);
	n = (size_t)snprintf(env, cap, QUEUE_FILE_MAGIC "id: %s\ntime: %lld\nclient: %s\n"
	    "from: %s\n", m->id, (long long)m->ctime, m->client, m->sender);
	for (size_t i = 0; i < m->nrcpt; i++)
		n += (size_t)snprintf(env + n, cap - n, "rcpt: %s\n", m->rcpts[i].addr);
	n += (size_t)snprintf(env + n, cap - n, "message-id: %s\nheader-size: %llu\n",
	    m->message_id, (unsigned long long)m->header_size);
	*env_crc = queue_file_crc(0, env, n);
	memcpy(env + n, QUEUE_FILE_PLACEHOLDER, QUEUE_FILE_SEAL_LEN);
	*len = n + QUEUE_FILE_SEAL_LEN;
	return env;
}

void
queue_file_seal(char out[QUEUE_FILE_SEAL_LEN], uint32_t env_crc, uint64_t size,
    uint32_t crc)
{
	char buf[QUEUE_FILE_SEAL_LEN + 1];
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf), "size: %0*llu\ncrc: %08x\n",
	    QUEUE_FILE_SIZE_WIDTH, (unsigned long long)size, crc);
	env_crc = queue_file_crc(env_crc, buf, n);
	snprintf(buf + n, sizeof(buf) - n, "env-crc: %08x\n\n", env_crc);
	memcpy(out, buf, QUEUE_FILE_SEAL_LEN);
}

void
queue_file_env_clear(struct queue_msg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i].addr);
	free(m->rcpts);
	free(m->client);
	free(m->sender);
	free(m->message_id);
	m->rcpts = NULL;
	m->nrcpt = 0;
	m->client = m->sender = m->message_id = NULL;
	m->ctime = 0;
	m->t_received = 0;
	m->header_size = m->size = m->data_off = 0;
	m->crc = 0;
}

/* queue_file_number: v[0..n) as a number in base 10 or 16; -1 unless all digits. */
static int
queue_file_number(const char *v, size_t n, int base, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > (base == 16 ? 16 : 20))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (v[i] >= '0' && v[i] <= '9')
			d = (unsigned)(v[i] - '0');
		else if (base == 16 && v[i] >= 'a' && v[i] <= 'f')
			d = (unsigned)(v[i] - 'a' + 10);
		else
			return -1;
		if (x > (UINT64_MAX - d) / (uint64_t)base)
			return -1;
		x = x * (uint64_t)base + d;
	}
	*out = x;
	return 0;
}

/* queue_file_key: the key of line p[0..n) (up to ": "), or QF_NKEYS if unknown. */
static enum queue_file_key
queue_file_key(const char *p, size_t n)
{
	for (int k = 0; k < QF_NKEYS; k++)
		if (strlen(queue_file_keys[k]) == n && memcmp(p, queue_file_keys[k], n) == 0)
			return (enum queue_file_key)k;
	return QF_NKEYS;
}

/* queue_file_field: set field k of m from v[0..n); a reason if it is not valid. */
static const char *
queue_file_field(struct queue_msg *m, enum queue_file_key k, const char *v, size_t n)
{
	uint64_t x;

	switch (k) {
	case QF_ID:
		if (n != strlen(m->id) || memcmp(v, m->id, n) != 0)
			return "its id line names another message";
		break;
	case QF_TIME:
		if (queue_file_number(v, n, 10, &x) == -1 || x > INT64_MAX / 2)
			return "time is not a time";
		m->ctime = (time_t)x;
		m->t_received = (double)x;
		break;
	case QF_CLIENT:
		m->client = xstrndup(v, n);
		break;
	case QF_FROM:
		m->sender = xstrndup(v, n);
		break;
	case QF_RCPT:
		if (n == 0)
			return "an empty rcpt";
		m->rcpts = xreallocarray(m->rcpts, m->nrcpt + 1, sizeof(*m->rcpts));
		m->rcpts[m->nrcpt].addr = xstrndup(v, n);
		m->rcpts[m->nrcpt++].state = QUEUE_RCPT_PENDING;
		break;
	case QF_MSGID:
		m->message_id = xstrndup(v, n);
		break;
	case QF_HSIZE:
		if (queue_file_number(v, n, 10, &m->header_size) == -1)
			return "header-size is not a number";
		break;
	case QF_SIZE:
		if (n > 0 && v[0] == '?')
			return "it was never sealed (no size)";
		if (n != QUEUE_FILE_SIZE_WIDTH || queue_file_number(v, n, 10, &m->size) == -1)
			return "size is not a number";
		break;
	case QF_CRC:
		if (n != 8 || queue_file_number(v, n, 16, &x) == -1)
			return "crc is not a checksum";
		m->crc = (uint32_t)x;
		break;
	case QF_ENVCRC:
	case QF_NKEYS:
		break;
	}
	return NULL;
}

enum queue_file_result
queue_file_env_decode(const char *buf, size_t len, uint64_t fsize, struct queue_msg *m,
    const char **why)
{
	const char *p, *end = buf + len, *nl, *v;
	unsigned seen = 0, want;
	int v2;
	/* Whether more octets could end the envelope. */
	int more = len < fsize && len < QUEUE_FILE_ENV_MAX;

#define BAD(reason) do { *why = (reason); return QUEUE_FILE_BAD; } while (0)
	if (len < QUEUE_FILE_MAGIC_LEN) {
		if (more)
			return QUEUE_FILE_SHORT;
		BAD("not a queue file (too short)");
	}
	if (memcmp(buf, QUEUE_FILE_MAGIC, QUEUE_FILE_MAGIC_LEN) == 0)
		v2 = 1;
	else if (memcmp(buf, QUEUE_FILE_MAGIC_V1, QUEUE_FILE_MAGIC_LEN) == 0)
		v2 = 0;
	else
		BAD("not a queue file (no relayd-queue 1 or 2 line)");
	for (p = buf + QUEUE_FILE_MAGIC_LEN; ; p = nl + 1) {
		enum queue_file_key k;
		const char *r;

		if (p >= end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			if (more)
				return QUEUE_FILE_SHORT;
			BAD(len >= QUEUE_FILE_ENV_MAX ? "its envelope is over 8 MB" :
			    "its envelope has no end (truncated)");
		}
		if (nl == p)		/* the empty line: the message follows */
			break;
		if (seen & (1u << QF_ENVCRC))
			BAD("a line after env-crc");
		if ((v = memchr(p, ':', (size_t)(nl - p))) == NULL || v + 1 >= nl ||
		    v[1] != ' ')
			BAD("a line of its envelope is not \"key: value\"");
		for (const char *c = p; c < nl; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				BAD("a control character in its envelope");
		k = queue_file_key(p, (size_t)(v - p));
		v += 2;
		if (k == QF_NKEYS)
			continue;	/* unknown keys are left for newer versions */
		if (k != QF_RCPT && (seen & (1u << k)))
			BAD("a field of its envelope is there twice");
		if (k == QF_ENVCRC) {
			uint64_t x;

			if (!v2)
				BAD("env-crc in a version 1 envelope");
			if ((size_t)(nl - v) != 8 || queue_file_number(v, 8, 16, &x) == -1)
				BAD("env-crc is not a checksum");
			if ((uint32_t)x != queue_file_crc(0, buf, (size_t)(p - buf)))
				BAD("its envelope does not match its checksum (env-crc)");
		} else if ((r = queue_file_field(m, k, v, (size_t)(nl - v))) != NULL)
			BAD(r);
		seen |= 1u << k;
	}
	want = ((1u << QF_NKEYS) - 1) & ~(v2 ? 0u : 1u << QF_ENVCRC);
	if ((seen & want) != want) {
		if (!(seen & (1u << QF_SIZE)))
			BAD("it was never sealed (no size)");
		BAD("a field of its envelope is missing");
	}
	m->data_off = (uint64_t)(p + 1 - buf);
	if (m->header_size > m->size)
		BAD("header-size is larger than the message");
	if (m->data_off > fsize || m->size > fsize - m->data_off)
		BAD("the file is shorter than its size says (truncated)");
	return QUEUE_FILE_OK;
#undef BAD
}

/* queue_file_state_line: apply one state record (a NUL-terminated line). */
static void
queue_file_state_line(struct queue_msg *m, const char *p)
{
	if (strncmp(p, "done: ", 6) == 0) {
		char st[16];
		size_t idx;

		if (sscanf(p + 6, "%zu %15s", &idx, st) == 2 && idx < m->nrcpt)
			m->rcpts[idx].state = strcmp(st, "sent") == 0 ?
			    QUEUE_RCPT_SENT : QUEUE_RCPT_FAILED;
	} else if (strncmp(p, "hold: ", 6) == 0)
		m->held = 1;
	else if (strncmp(p, "release: ", 9) == 0)
		m->held = 0;
	else if (strncmp(p, "throttled: ", 11) == 0)
		m->throttled++;
	else if (strncmp(p, "deferred: ", 10) == 0) {
		long long t, next;
		int n = 0;

		if (sscanf(p + 10, "%lld %lld %n", &t, &next, &n) >= 2) {
			m->attempts++;
			m->next_try = (time_t)next;
			free(m->last_reply);
			m->last_reply = xstrdup(p + 10 + n);
		}
	}
}

void
queue_file_state_apply(struct queue_msg *m, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;

	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1) {
		char *line = xstrndup(p, (size_t)(nl - p));

		queue_file_state_line(m, line);
		free(line);
	}
}

char *
queue_file_reply(const char *reply)
{
	char *r = queue_file_sanitize(reply);

	if (strlen(r) > QUEUE_FILE_REPLY_MAX)
		r[QUEUE_FILE_REPLY_MAX] = '\0';
	return r;
}

char *
queue_file_done_record(size_t idx, enum queue_rcpt_state st, time_t now,
    const char *account, const char *reply)
{
	char *r = queue_file_reply(reply), *a = queue_file_sanitize(account), *line;

	line = xasprintf("done: %zu %s %lld %s %s\n", idx, st == QUEUE_RCPT_SENT ? "sent" :
	    "failed", (long long)now, a, r);
	free(a);
	free(r);
	return line;
}

char *
queue_file_deferred_record(time_t now, time_t next, const char *reply)
{
	char *r = queue_file_reply(reply), *line;

	line = xasprintf("deferred: %lld %lld %s\n", (long long)now, (long long)next, r);
	free(r);
	return line;
}

char *
queue_file_throttled_record(time_t now, const char *reply)
{
	char *r = queue_file_reply(reply), *line;

	line = xasprintf("throttled: %lld %s\n", (long long)now, r);
	free(r);
	return line;
}

char *
queue_file_hold_record(int on, time_t now)
{
	return xasprintf("%s: %lld\n", on ? "hold" : "release", (long long)now);
}
