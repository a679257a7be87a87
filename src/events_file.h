/*
 * events_file: the pure codec of the event journal's records (events.c writes and
 * reads them; relayctl events reads them too). No I/O. One record is one line:
 *
 *   1 CRC32 JSON\n
 *
 * "1" is the format version, CRC32 the zlib CRC-32 of the JSON text in 8 lower-case
 * hex digits, JSON one compact object (no raw newline: JSON escapes them) holding at
 * least "id" (a whole number > 0), "time" (UNIX seconds) and "type" (a known name).
 * A line torn by a crash, or anything else, fails the CRC or the parse and is skipped
 * by the readers.
 */
#ifndef RELAYD_EVENTS_FILE_H
#define RELAYD_EVENTS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What became of a message or an account; a bit each in a types mask. */
enum events_type {
	EVENTS_QUEUED,
	EVENTS_SENT,
	EVENTS_DEFERRED,
	EVENTS_FAILED,
	EVENTS_BOUNCED,
	EVENTS_SUPPRESSED,
	EVENTS_ACCOUNT,
	EVENTS_NTYPES
};

/* The default types: sent, failed, bounced, suppressed, account. */
#define EVENTS_TYPES_DEFAULT	((1u << EVENTS_SENT) | (1u << EVENTS_FAILED) | \
	(1u << EVENTS_BOUNCED) | (1u << EVENTS_SUPPRESSED) | (1u << EVENTS_ACCOUNT))

/* events_file_type_name: "queued", "sent", ...; "?" for a value out of range. */
const char	*events_file_type_name(enum events_type);

/* events_file_type_parse: the type named s, or -1. */
int		 events_file_type_parse(const char *s);

/*
 * events_file_encode: ev (an object with id, time and type) as one record line,
 * newline included: a new string of *len octets, or NULL when ev lacks them.
 */
char		*events_file_encode(const json_t *ev, size_t *len);

/*
 * events_file_decode: the record in the len octets at line (without its newline):
 * 0 with *out a new object (the caller decrefs it), or -1 (torn, corrupt, another
 * version, missing or wrong id/time/type).
 */
int		 events_file_decode(const char *line, size_t len, json_t **out);

/* events_file_id: the "id" of a decoded record (0 if none). */
uint64_t	 events_file_id(const json_t *ev);

/*
 * events_file_provider_id: the provider's own queue id in a 250 reply, e.g. "250 2.0.0
 * Ok: queued as 4F2A1" -> "4F2A1", "250 OK id=1rXyZ-000" -> "1rXyZ-000", "250 2.0.0
 * <abc@mx> Queued mail for delivery" -> "abc@mx"; a new string, or NULL when there is
 * no such token.
 */
char		*events_file_provider_id(const char *reply);

#endif
