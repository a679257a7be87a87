/*
 * fuzz_queue_file: libFuzzer target for the queue file codec (queue_file.c): the
 * envelope decoder on the input as a whole file and as the first part of a longer
 * one, then the state records after it. Checked: the decoder stays within the input;
 * what it accepts is consistent (header-size <= size, the message within the file,
 * at least one recipient); an accepted envelope encoded and sealed again decodes to
 * the same fields; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue_file.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_id: the id the input's file is taken to have: its own id line, if any. */
static void
fuzz_id(const char *buf, size_t len, struct queue_msg *m)
{
	const char *p = memmem(buf, len, "\nid: ", 5);
	size_t n = 0;

	memset(m, 0, sizeof(*m));
	if (p != NULL)
		for (p += 5; p + n < buf + len && p[n] != '\n' && n < QUEUE_ID_LEN; n++)
			;
	memcpy(m->id, p ? p : "", n);
	m->id[n] = '\0';
}

/* fuzz_again: encode and seal m again; the result must decode to the same. */
static void
fuzz_again(const struct queue_msg *m)
{
	struct queue_msg b;
	uint32_t env_crc;
	size_t len;
	char *env = queue_file_env_encode(m, &len, &env_crc);
	const char *why = NULL;

	queue_file_seal(env + len - QUEUE_FILE_SEAL_LEN, env_crc, m->size, m->crc);
	memset(&b, 0, sizeof(b));
	memcpy(b.id, m->id, sizeof(b.id));
	if (queue_file_env_decode(env, len, len + m->size, &b, &why) != QUEUE_FILE_OK ||
	    b.nrcpt != m->nrcpt || b.size != m->size || b.header_size != m->header_size ||
	    b.crc != m->crc || b.ctime != m->ctime || b.data_off != len ||
	    strcmp(b.client, m->client) || strcmp(b.sender, m->sender) ||
	    strcmp(b.message_id, m->message_id))
		abort();
	for (size_t i = 0; i < m->nrcpt; i++)
		if (strcmp(b.rcpts[i].addr, m->rcpts[i].addr) != 0)
			abort();
	queue_file_env_clear(&b);
	free(env);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size octets, so that ASan sees any read past it. */
	char *buf = xmalloc(size ? size : 1);
	struct queue_msg m;
	const char *why = NULL;
	enum queue_file_result r;

	memcpy(buf, data, size);
	fuzz_id(buf, size, &m);
	/* As the first part of a file twice as long. */
	r = queue_file_env_decode(buf, size, (uint64_t)size * 2 + 1, &m, &why);
	if (r == QUEUE_FILE_BAD && why == NULL)
		abort();
	queue_file_env_clear(&m);
	/* As the whole file. */
	r = queue_file_env_decode(buf, size, size, &m, &why);
	if (r == QUEUE_FILE_SHORT || (r == QUEUE_FILE_BAD && why == NULL))
		abort();
	if (r == QUEUE_FILE_OK) {
		if (m.header_size > m.size || m.data_off > size ||
		    m.size > size - m.data_off || m.nrcpt == 0 || m.client == NULL ||
		    m.sender == NULL || m.message_id == NULL)
			abort();
		fuzz_again(&m);
		queue_file_state_apply(&m, buf + m.data_off + m.size,
		    size - m.data_off - m.size);
		for (size_t i = 0; i < m.nrcpt; i++)
			if (m.rcpts[i].state > QUEUE_RCPT_FAILED)
				abort();
	} else
		/* The state records alone, on whatever the input is. */
		queue_file_state_apply(&m, buf, size);
	free(m.last_reply);
	queue_file_env_clear(&m);
	free(buf);
	return 0;
}
