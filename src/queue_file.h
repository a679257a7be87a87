/*
 * queue_file: the queue file's text parts, encoded and decoded with no I/O: the
 * envelope at the start of a message file and the state records appended after the
 * message. queue.c writes with it, queue_load.c reads with it; the format is
 * described at the top of queue_file.c.
 */
#ifndef RELAYD_QUEUE_FILE_H
#define RELAYD_QUEUE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "queue_msg.h"

#define QUEUE_FILE_MAGIC	"relayd-queue 2\n"	/* what is written */
#define QUEUE_FILE_MAGIC_V1	"relayd-queue 1\n"	/* still read: no env-crc */
#define QUEUE_FILE_ENV_MAX	(8 * 1024 * 1024)	/* bound on an envelope read back */
#define QUEUE_FILE_SIZE_WIDTH	20
/* "size: <20 digits>\ncrc: <8>\nenv-crc: <8>\n\n": the envelope's last, sealed part. */
#define QUEUE_FILE_SEAL_LEN	(6 + QUEUE_FILE_SIZE_WIDTH + 1 + 14 + 18 + 1)

enum queue_file_result {
	QUEUE_FILE_OK,
	QUEUE_FILE_SHORT,	/* the envelope goes on past the octets given */
	QUEUE_FILE_BAD,		/* not a (complete) queue file; *why says why */
};

/* queue_file_crc: the CRC-32 of n octets continuing from crc (0 to start, as zlib). */
uint32_t	 queue_file_crc(uint32_t crc, const void *p, size_t n);

/*
 * queue_file_env_encode: m's envelope (id, ctime, client, sender, rcpts, message_id,
 * header_size) with its sealed part left as placeholders, which no reader accepts.
 * Returns a new buffer of *len octets (the caller frees it); its last
 * QUEUE_FILE_SEAL_LEN octets are what queue_file_seal writes over. *env_crc: the
 * CRC-32 of the octets before them, for queue_file_seal.
 */
char		*queue_file_env_encode(const struct queue_msg *m, size_t *len,
		    uint32_t *env_crc);

/*
 * queue_file_seal: the envelope's sealed part for a message of size octets whose
 * CRC-32 is crc; env_crc as queue_file_env_encode gave it. Fills out (exactly
 * QUEUE_FILE_SEAL_LEN octets, no NUL).
 */
void		 queue_file_seal(char out[QUEUE_FILE_SEAL_LEN], uint32_t env_crc,
		    uint64_t size, uint32_t crc);

/*
 * queue_file_env_decode: parse and check the envelope at the start of buf[0..len)
 * of a file of fsize octets, into m, whose id must already be set to the file's name
 * (m's other fields must be empty). Checked: the magic, the checksum over the
 * envelope (version 2), each field's syntax and range, no field twice, every
 * required field present, header-size <= size, and envelope + size <= fsize.
 * Returns QUEUE_FILE_OK (m->data_off is where the message starts),
 * QUEUE_FILE_SHORT (read more and call again; m may hold partial fields: free them
 * with queue_file_env_clear), or QUEUE_FILE_BAD with *why a static reason.
 */
enum queue_file_result queue_file_env_decode(const char *buf, size_t len, uint64_t fsize,
		    struct queue_msg *m, const char **why);

/* queue_file_env_clear: free and zero what a decode filled in (not the id). */
void		 queue_file_env_clear(struct queue_msg *m);

/*
 * queue_file_state_apply: apply the state records in buf[0..len) to m (recipients'
 * states, hold, attempts, next_try, last_reply). A line that is not a known record
 * or not whole is skipped.
 */
void		 queue_file_state_apply(struct queue_msg *m, const char *buf, size_t len);

/*
 * The state record lines (each ends in "\n"; new strings the caller frees). reply
 * texts are made one line of at most QUEUE_FILE_REPLY_MAX octets.
 */
#define QUEUE_FILE_REPLY_MAX	512
char		*queue_file_done_record(size_t idx, enum queue_rcpt_state, time_t now,
		    const char *account, const char *reply);
char		*queue_file_deferred_record(time_t now, time_t next, const char *reply);
char		*queue_file_hold_record(int on, time_t now);
char		*queue_file_throttled_record(time_t now, const char *reply);

/* queue_file_reply: a copy of reply fit for a state record (one line, REPLY_MAX). */
char		*queue_file_reply(const char *reply);
/* queue_file_sanitize: a copy of s fit for one envelope line (controls to spaces). */
char		*queue_file_sanitize(const char *s);

#endif
