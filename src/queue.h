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

#define QUEUE_ID_LEN	16

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING,
	QUEUE_RCPT_SENT,
	QUEUE_RCPT_FAILED,
};

struct queue_rcpt {
	char			*addr;
	enum queue_rcpt_state	 state;
	int			 later;	/* owned by the scheduler: pending, but not in
					 * the transaction scheduler_take just started
					 * (its domain's limit is reached) */
};

/* One queued message, in memory. Owned by the queue; see queue_msg_free. */
struct queue_msg {
	char		 id[QUEUE_ID_LEN + 1];
	time_t		 ctime;		/* when it was accepted */
	double		 t_received;	/* the same, finer, for delay= in the log */
	char		*sender;	/* envelope sender the app gave, "" for <> */
	char		*client;	/* submitting client's address */
	char		*message_id;	/* Message-ID (with <>) it has or will be given */
	struct queue_rcpt *rcpts;
	size_t		 nrcpt;
	uint64_t	 size;		/* message octets (CRLF, unstuffed) */
	uint64_t	 header_size;	/* octets of its header block */
	uint64_t	 data_off;	/* where the message starts in the file */
	int		 attempts;	/* deferred attempts so far */
	time_t		 next_try;	/* earliest next attempt */
	char		*last_reply;	/* last deferral reason, or NULL */
	int		 held;		/* on hold (relayctl queue hold) */

	/* private to queue.c */
	int		 fd;		/* incoming file while receiving, else -1 */
	int		 reused;	/* that file came from free/ (see queue.c) */
	uint32_t	 crc;
	uint32_t	 env_crc;	/* of its envelope up to the sealed part */
	int		 werrno;	/* first write error while receiving */
	void		(*commit_cb)(struct queue_msg *, int, void *);
	void		*commit_arg;
	struct queue_msg *commit_next;

	/* owned by the scheduler */
	size_t		 sched_index;	/* slot in the heap of waiting mail */
	struct queue_msg *hnext;	/* chain in the scheduler's id table */
	char		*account;	/* account of the attempt in flight, or NULL */
	int		 deleted;	/* delete when the attempt in flight ends */
	int		 inflight;
	uint64_t	 quota_id;	/* the in-flight transaction's reservation */
	int		 domain_wait;	/* next_try is a wait for the limit of domains
					 * entry domain_wait - 1; 0: not such a wait */

	/* owned by upstream */
	int		 guesses;	/* guessed throttles in a row (outcome_guess_bound) */
	double		 guess_since;	/* when the first of them was (clock_steady) */
};

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
 * queue_msg_commit: make the message durable; cb(msg, ok, arg) is called from the
 * event loop once it is (ok 1: the caller may now say 250; the message is committed
 * and its ownership passes to cb) or once that failed (ok 0, errno-like code in
 * msg->werrno: the file is gone and cb must free msg with queue_msg_free).
 */
void		 queue_msg_commit(struct queue *, struct queue_msg *,
		    void (*cb)(struct queue_msg *, int, void *), void *);

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
