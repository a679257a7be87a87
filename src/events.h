/*
 * events: the event journal. What became of each message and account (queued, sent,
 * deferred, failed, bounced, suppressed, account) is appended, as one record line per
 * event (events_file.h), to SPOOL/events/ before the state change it reports is
 * recorded; the webhook (webhook.c) and relayctl events read it back.
 *
 * Layout under SPOOL/events/:
 *   0000000000000001   segments, each named by the hex id of its first record;
 *   00000000000004d2   a new one starts at 4 MB or after min(keep/4, a day)
 *   cursor             the id of the last event the webhook receiver took (decimal)
 *
 * Ids grow by one per event, across restarts (the next is one past the highest in the
 * journal or the cursor): they are the idempotency key and the --since position.
 *
 * Durability: a record is written (write(2), no cache of ours) before the state change
 * that caused it is written or acknowledged, so it survives kill -9 whenever the
 * change does; after an OS crash it is as durable as the spool's state records: the
 * spool's group commit (queue.c: one syncfs of the spool's file system) makes both
 * durable, with no fsync of its own per event. A "queued" event is written once the
 * message's commit succeeded, never for a message that was refused.
 *
 * One journal per process, like the log: events_emit is a no-op until events_open.
 */
#ifndef RELAYD_EVENTS_H
#define RELAYD_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <event2/event.h>

#include "events_file.h"

struct events;
struct queue_msg;

/*
 * events_open: open (creating) the journal under spool_dir/events, keeping the types in
 * the mask types and pruning what is older than keep seconds (base may be NULL: no
 * pruning timer). It becomes the process's journal. Returns NULL after logging.
 */
struct events	*events_open(struct event_base *, const char *spool_dir, unsigned types,
		    int keep);
void		 events_close(struct events *);

/* events_reconfigure: keep types and prune by keep from now on (reload). */
void		 events_reconfigure(struct events *, unsigned types, int keep);

/*
 * events_set_notify: fn(arg) runs from the event loop (once per loop turn) after new
 * events were appended; tracked 1: a receiver is to take them all (events dropped by
 * keep before the cursor reached them are warned about).
 */
void		 events_set_notify(struct events *, void (*fn)(void *), void *arg);

/*
 * events_set_tap: fn(t, ev, m, arg) runs synchronously in events_emit for each event
 * whose type is in the mask types, whether the journal keeps that type or not: ev is
 * the event (borrowed; its "id" only when the journal kept it), m the message it is
 * about when the emitter had it (events_emit_rcpt: its file is still in the spool),
 * else NULL. fn runs after the record was appended, before events_emit returns, so
 * what it does happens before the state change the event reports is recorded.
 * fn NULL removes the tap. (events_dsn.c mails reports from here.)
 */
void		 events_set_tap(struct events *, unsigned types, void (*fn)(enum events_type,
		    const json_t *ev, const struct queue_msg *m, void *), void *arg);

/*
 * events_emit: append an event of type t to the process's journal, if one is open and
 * t is kept. Any of the strings may be NULL (a JSON null); extra (may be NULL) is an
 * object whose members are added; events_emit takes the reference.
 */
void		 events_emit(enum events_type t, const char *queue_id, const char *message_id,
		    const char *recipient, const char *account, json_t *extra);

/*
 * events_emit_rcpt: the same for recipient idx of m (queue id, its Message-ID without
 * <>, the address).
 */
void		 events_emit_rcpt(enum events_type t, const struct queue_msg *m, size_t idx,
		    const char *account, json_t *extra);

/* events_last_id: the id of the last event appended (0: none yet). */
uint64_t	 events_last_id(const struct events *);

/* events_cursor / events_set_cursor: the last id the receiver took (SPOOL/events/cursor). */
uint64_t	 events_cursor(const struct events *);
void		 events_set_cursor(struct events *, uint64_t id);

/* A reading position, to go on cheaply from where the last read stopped. */
struct events_pos {
	uint64_t	 seg;		/* first id of the segment */
	off_t		 off;		/* octets into it */
	uint64_t	 last;		/* id of the last record read */
};

/*
 * events_read: append to the array out up to max records (decoded objects) with
 * id > after, in id order, from the journal directory dirfd. pos (may be NULL) is
 * where the previous read stopped: it is used when its last is after, and updated.
 * Corrupt and torn lines are skipped. Returns the number appended, or -1 with errno
 * (the directory cannot be read).
 */
ssize_t		 events_read(int dirfd, uint64_t after, size_t max, json_t *out,
		    struct events_pos *pos);

/* events_dirfd: the journal directory of an open journal (for events_read). */
int		 events_dirfd(const struct events *);

#endif
