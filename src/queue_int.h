/*
 * queue_int: the spool's private parts, shared by queue.c (writing, committing,
 * state records) and queue_load.c (reading the spool back at start-up), which is
 * above queue.c: it calls queue.c's functions, queue.c only its hooks below. Nothing
 * else includes this.
 */
#ifndef RELAYD_QUEUE_INT_H
#define RELAYD_QUEUE_INT_H

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#define QUEUE_POOL_MAX		1024	/* files kept in free/ for reuse */

struct queue_loader;

struct queue {
	struct event_base *base;
	char		*dir;
	int		 dirfd;		/* spool_dir */
	int		 infd;		/* incoming/ */
	int		 qfd;		/* queue/ */
	int		 freefd;	/* free/ */
	int		 quarfd;	/* quarantine/ */
	unsigned long	 nquarantined;	/* files in quarantine/ (atomic: loaders add) */
	int		 lockfd;
	uint32_t	 pool[QUEUE_POOL_MAX];	/* names (numbers) of the files in free/ */
	size_t		 npool;
	uint32_t	 pool_seq;	/* the last name given to a file in free/ */
	uint32_t	 seq;
	struct event	*commit_ev;
	struct queue_msg *commit_head, **commit_tail;	/* waiting for the next sync */

	/* The syncer thread; it touches nothing but what is under mu. */
	pthread_t	 syncer;
	int		 syncer_up;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct queue_msg *sync_batch;	/* the batch being synced (under mu) */
	int		 sync_want;	/* the loop asks for a sync (under mu) */
	int		 sync_err;	/* its result, an errno or 0 (under mu) */
	int		 sync_stop;	/* the syncer is to exit (under mu) */
	int		 sync_pipe[2];	/* syncer -> loop: a sync finished */
	struct event	*sync_ev;
	struct queue_loader *loader;	/* reading queue/ at start-up (queue_load.c) */
	/*
	 * Set by queue_load_begin (NULL before; they do nothing once the load is over).
	 * queue.c tells the loader through these rather than by name, so that
	 * queue_load.c depends on queue.c and not the other way round. load_committed:
	 * id was committed into queue/ (the load must not give it); load_stop: end the
	 * loading (at close), freeing what was read and not taken.
	 */
	void		(*load_committed)(struct queue *, const char *id);
	void		(*load_stop)(struct queue *);
};

/*
 * queue_opendir: spool_dir/name for reading its entries, on a descriptor of its own
 * (readdir moves the offset, which a dup() of the open directory would share).
 * NULL with errno set.
 */
DIR		*queue_opendir(struct queue *, const char *name);
/* queue_read_at: read up to n octets at off; returns octets read or -1. */
ssize_t		 queue_read_at(int fd, char *buf, size_t n, off_t off);

#endif
