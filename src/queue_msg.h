/*
 * queue_msg: one queued message in memory and its recipients, the structure the
 * spool (queue.c, queue_load.c), its codec (queue_file.c) and the scheduler share.
 * A header of its own, below queue.h and queue_file.h, so that the codec does not
 * depend on the spool that uses it (issue 15: no cycles). The functions that make
 * and free one are queue.c's: see queue.h.
 */
#ifndef RELAYD_QUEUE_MSG_H
#define RELAYD_QUEUE_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

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
	int		 throttled;	/* attempts that hit a throttle (not counted in
					 * attempts: they set no retry step) */
	time_t		 next_try;	/* earliest next attempt */
	char		*last_reply;	/* last deferral reason, or NULL */
	int		 held;		/* on hold (relayctl queue hold) */

	/*
	 * Private to the spool: queue.c's, except that queue_load.c makes a loaded
	 * message's fd -1 and checks crc, which queue_file.c reads and writes (the
	 * envelope's "crc:"). No other module reads or writes these.
	 */
	int		 fd;		/* incoming file while receiving, else -1 */
	int		 reused;	/* that file came from free/ (see queue.c) */
	uint32_t	 crc;		/* of the message octets */
	uint32_t	 env_crc;	/* of its envelope up to the sealed part */
	int		 werrno;	/* first write error (the commit callback's err) */
	void		(*commit_cb)(struct queue_msg *, int err, void *);
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

#endif
