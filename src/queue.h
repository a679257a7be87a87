/*
 * queue: the spool. A message is acknowledged only once it is on disk; everything
 * the daemon knows about queued mail can be rebuilt from the spool at start-up.
 * The on-disk format is described at the top of queue.c.
 *
 * Writes are group-committed: the messages whose DATA ended while the previous sync
 * ran are made durable by one sync (in a thread of its own), then each caller is told.
 */
#ifndef RELAYD_QUEUE_H
#define RELAYD_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <event2/event.h>

#include "queue_msg.h"

struct queue;

/*
 * queue_open: open (creating if needed) the spool at dir and take its lock so no
 * second relayd uses it (what an interrupted run left is dealt with by
 * queue_load_begin).
 * Returns NULL after logging why.
 */
struct queue	*queue_open(struct event_base *, const char *dir);
void		 queue_close(struct queue *);

/*
 * queue_load_begin: finish or discard what an interrupted run left in incoming/,
 * then read queue/ in a thread, so a large queue loads while mail is accepted. From
 * the event loop, each committed message is given to cb, fully loaded with its
 * recipients' states (cb takes ownership), in batches; after each batch comes
 * batch(end, arg), end being 1 after the last. A message committed while the queue
 * loads is never given: the caller has it already. Returns 0, or -1 after logging.
 */
int		 queue_load_begin(struct queue *, void (*cb)(struct queue_msg *, void *),
		    void (*batch)(int end, void *), void *arg);

/* queue_msg_new: a new message being received; nothing is on disk yet. */
struct queue_msg *queue_msg_new(struct queue *, const char *client, const char *sender);
void		 queue_msg_add_rcpt(struct queue_msg *, const char *addr);

/*
 * queue_msg_begin: create the message's file and write its envelope; message_id is
 * the Message-ID it has (or will be given, with <>), header_size the octets of its
 * header block. Returns 0, or -1 with errno set (ENOSPC and the like).
 */
int		 queue_msg_begin(struct queue *, struct queue_msg *, const char *message_id,
		    uint64_t header_size);

/* queue_msg_write: append message octets. Errors are remembered for the commit. */
void		 queue_msg_write(struct queue_msg *, const void *, size_t);

/*
 * queue_msg_commit: make the message durable; cb(msg, err, arg) is called from the
 * event loop once it is (err 0: the caller may now say 250; the message is committed
 * and its ownership passes to cb) or once that failed (err an errno code, ENOSPC and
 * the like: the file is gone and cb must free msg with queue_msg_free).
 */
void		 queue_msg_commit(struct queue *, struct queue_msg *,
		    void (*cb)(struct queue_msg *, int err, void *), void *);

/* queue_busy: 1 while a commit is under way (shutdown runs the loop until it is 0). */
int		 queue_busy(const struct queue *);

/* queue_msg_abort: drop a message being received (its file too) and free it. */
void		 queue_msg_abort(struct queue *, struct queue_msg *);

/* queue_msg_open: open a committed message for reading; returns an fd or -1. */
int		 queue_msg_open(struct queue *, const struct queue_msg *);

/*
 * queue_msg_rcpt_done: record a recipient's final state (sent or failed) with the
 * account and the reply. Returns 1 when every recipient is done: the message's file
 * is then removed and the caller frees msg with queue_msg_free.
 */
int		 queue_msg_rcpt_done(struct queue *, struct queue_msg *, size_t idx,
		    enum queue_rcpt_state, const char *account, const char *reply);

/* queue_msg_deferred: record a failed attempt and when the next one is due. */
void		 queue_msg_deferred(struct queue *, struct queue_msg *, time_t next,
		    const char *reply);

/* queue_msg_throttled: record an attempt that hit a throttle (or a disable), with
 * the reply; the message keeps its place and its retry schedule. */
void		 queue_msg_throttled(struct queue *, struct queue_msg *, const char *reply);

/* queue_msg_hold: put on hold (on 1) or release (on 0), recorded in the spool. */
void		 queue_msg_hold(struct queue *, struct queue_msg *, int on);

/* queue_msg_remove: delete a committed message's file (relayctl queue delete). */
void		 queue_msg_remove(struct queue *, struct queue_msg *);

/*
 * queue_msg_describe: the message as relayctl queue show prints it: envelope, its
 * header block (up to 64 KB), and the history of attempts from the state records.
 * A new JSON reference, or NULL if the file cannot be read.
 */
json_t		*queue_msg_describe(struct queue *, const struct queue_msg *);

void		 queue_msg_free(struct queue_msg *);

/*
 * queue_quarantined: how many files are in the spool's quarantine/ (those found
 * there at start-up, and those that failed their checks since).
 */
unsigned long	 queue_quarantined(const struct queue *);

#endif
