/*
 * queue: the spool on disk.
 *
 * Layout under spool_dir:
 *   lock           flock()ed by the running relayd: one daemon per spool
 *   incoming/ID    a message being received, or synced but not yet renamed
 *   queue/ID       committed messages
 *   free/N         files of delivered messages kept for reuse (contents are junk)
 *   quarantine/ID  queue files that failed their checks at load (see queue_load.c)
 *
 * A message file is its envelope, the message, then state records appended as
 * delivery goes on; the format and its checks are at the top of queue_file.c, which
 * encodes and decodes it.
 *
 * Commit (group commit): the message is written to incoming/ID with size and the
 * checksums left as placeholders; at the end of DATA they are written in place (the
 * envelope's sealed part, queue_file_seal); one syncfs() makes
 * every message finished so far durable; only then are the clients told 250 and the
 * files renamed into queue/. The syncfs() runs in a thread of its own (the syncer), so
 * the event loop goes on receiving while the disk works: the messages finished during
 * one sync form the next batch, and the busier the relay the larger the batches.
 * A rename that a crash loses is harmless: recovery moves every incoming/ file whose
 * size and crc check out into queue/, and removes the rest (their clients never got
 * 250). Nothing is guessed.
 *
 * State records are appended without a sync: after an OS crash a message may be sent
 * again (at least once), never lost. When every recipient is done the file is removed.
 *
 * File reuse: creating a file is the dearest step of an accept (the file system has
 * to find and initialise an inode; ext4 without a journal also skips every inode freed
 * in the last minutes), so a finished small message's file is not unlinked but renamed
 * into free/, and a new message takes one from there: renamed to incoming/ID first,
 * then overwritten from the start and cut to its length when sealed. Renaming it out
 * of queue/ is the "done" mark, exactly as unlinking was. What a reused file held
 * before never passes recovery: the id line must name the file, and size and crc must
 * match what follows. free/ holds at most QUEUE_POOL_MAX files; the rest are unlinked.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "jsonstr.h"
#include "log.h"
#include "queue.h"
#include "queue_file.h"
#include "queue_int.h"
#include "smtp_parse.h"
#include "xmalloc.h"

#define QUEUE_SYNC_POLL		100000	/* µs: look for a finished sync (lost wake-up) */
#define QUEUE_POOL_FILE_MAX	(64 * 1024)	/* only smaller messages' files are kept */

/* Every envelope the listener can accept must be readable again after a crash. */
_Static_assert(QUEUE_FILE_ENV_MAX > CONFIG_RECIPIENTS_MAX * (SMTP_PATH_MAX + 8) + 65536,
    "QUEUE_FILE_ENV_MAX must hold the largest envelope max_recipients allows");


static void queue_commit_run(evutil_socket_t, short, void *);
static void queue_sync_done(evutil_socket_t, short, void *);
static int queue_syncer_start(struct queue *);
static void queue_syncer_stop(struct queue *);

/* queue_mkdirat: open the subdirectory name of dirfd, creating it if needed. */
static int
queue_mkdirat(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

DIR *
queue_opendir(struct queue *q, const char *name)
{
	DIR *d;
	int fd = openat(q->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	return d;
}

/* queue_read_at: read up to n octets at off; returns octets read or -1. */
ssize_t
queue_read_at(int fd, char *buf, size_t n, off_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* queue_count: the files in the spool's subdirectory name (0 if it cannot be read). */
static unsigned long
queue_count(struct queue *q, const char *name)
{
	unsigned long n = 0;
	struct dirent *de;
	DIR *d;

	if ((d = queue_opendir(q, name)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

unsigned long
queue_quarantined(const struct queue *q)
{
	return __atomic_load_n(&q->nquarantined, __ATOMIC_RELAXED);
}

/* queue_pool_scan: take stock of free/ (at start-up); what is past the bound goes. */
static void
queue_pool_scan(struct queue *q)
{
	DIR *d;
	struct dirent *de;

	if ((d = queue_opendir(q, "free")) == NULL)
		return;		/* no reuse this run; messages get new files */
	while ((de = readdir(d)) != NULL) {
		unsigned long n;
		char *end;

		if (de->d_name[0] == '.')
			continue;
		errno = 0;
		n = strtoul(de->d_name, &end, 16);
		if (*end != '\0' || errno != 0 || n > UINT32_MAX ||
		    q->npool == QUEUE_POOL_MAX) {
			unlinkat(q->freefd, de->d_name, 0);
			continue;
		}
		q->pool[q->npool++] = (uint32_t)n;
		if ((uint32_t)n > q->pool_seq)
			q->pool_seq = (uint32_t)n;
	}
	closedir(d);
}

/*
 * queue_pool_take: move a file from free/ to incoming/id and open it for writing;
 * returns the fd, or -1 with errno EEXIST (id taken: try another), or -1 with another
 * errno when the pool cannot serve (the caller creates a new file).
 */
static int
queue_pool_take(struct queue *q, const char *id)
{
	char name[16];
	int fd;

	if (q->npool == 0) {
		errno = ENOENT;
		return -1;
	}
	snprintf(name, sizeof(name), "%08X", q->pool[q->npool - 1]);
	if (renameat2(q->freefd, name, q->infd, id, RENAME_NOREPLACE) == -1) {
		if (errno == EEXIST)
			return -1;
		q->npool--;		/* a file we cannot move is not reused */
		unlinkat(q->freefd, name, 0);
		errno = ENOENT;
		return -1;
	}
	q->npool--;
	if ((fd = openat(q->infd, id, O_WRONLY | O_CLOEXEC)) == -1) {
		unlinkat(q->infd, id, 0);
		errno = ENOENT;
	}
	return fd;
}

/*
 * queue_retire: a committed message is finished or deleted: its file leaves queue/
 * (or incoming/, if its rename failed), into free/ when it is small and there is room.
 */
static void
queue_retire(struct queue *q, struct queue_msg *m)
{
	if (q->npool < QUEUE_POOL_MAX && m->data_off + m->size <= QUEUE_POOL_FILE_MAX) {
		char name[16];

		snprintf(name, sizeof(name), "%08X", ++q->pool_seq);
		if (renameat(q->qfd, m->id, q->freefd, name) == 0 || (errno == ENOENT &&
		    renameat(q->infd, m->id, q->freefd, name) == 0)) {
			q->pool[q->npool++] = q->pool_seq;
			return;
		}
	}
	if (unlinkat(q->qfd, m->id, 0) == -1 && errno == ENOENT)
		unlinkat(q->infd, m->id, 0);
}

struct queue *
queue_open(struct event_base *base, const char *dir)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	q->base = base;
	q->dir = xstrdup(dir);
	q->dirfd = q->infd = q->qfd = q->freefd = q->quarfd = q->lockfd = -1;
	q->sync_pipe[0] = q->sync_pipe[1] = -1;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_err("spool: cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_err("spool: cannot open %s: %s", dir, strerror(errno));
		goto fail;
	}
	q->lockfd = openat(q->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (q->lockfd == -1 || flock(q->lockfd, LOCK_EX | LOCK_NB) == -1) {
		log_err("spool: %s is in use by another relayd (lock: %s)", dir,
		    strerror(errno));
		goto fail;
	}
	if ((q->infd = queue_mkdirat(q->dirfd, "incoming")) == -1 ||
	    (q->qfd = queue_mkdirat(q->dirfd, "queue")) == -1 ||
	    (q->freefd = queue_mkdirat(q->dirfd, "free")) == -1 ||
	    (q->quarfd = queue_mkdirat(q->dirfd, "quarantine")) == -1) {
		log_err("spool: cannot create the directories in %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	q->seq = arc4random();
	queue_pool_scan(q);
	q->nquarantined = queue_count(q, "quarantine");
	q->commit_tail = &q->commit_head;
	q->commit_ev = event_new(base, -1, 0, queue_commit_run, q);
	if (queue_syncer_start(q) == -1) {
		log_err("spool: cannot start the sync thread: %s", strerror(errno));
		goto fail;
	}
	return q;
fail:
	queue_close(q);
	return NULL;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->load_stop != NULL)
		q->load_stop(q);
	queue_syncer_stop(q);
	if (q->commit_ev != NULL)
		event_free(q->commit_ev);
	if (q->dirfd != -1)
		close(q->dirfd);
	if (q->infd != -1)
		close(q->infd);
	if (q->qfd != -1)
		close(q->qfd);
	if (q->freefd != -1)
		close(q->freefd);
	if (q->quarfd != -1)
		close(q->quarfd);
	if (q->lockfd != -1)
		close(q->lockfd);	/* releases the flock */
	free(q->dir);
	free(q);
}

struct queue_msg *
queue_msg_new(struct queue *q, const char *client, const char *sender)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	m->fd = -1;
	m->t_received = clock_now();
	m->ctime = (time_t)m->t_received;
	m->client = queue_file_sanitize(client);
	m->sender = queue_file_sanitize(sender);
	m->sched_index = (size_t)-1;
	return m;
}

void
queue_msg_add_rcpt(struct queue_msg *m, const char *addr)
{
	m->rcpts = xreallocarray(m->rcpts, m->nrcpt + 1, sizeof(*m->rcpts));
	m->rcpts[m->nrcpt].addr = queue_file_sanitize(addr);
	m->rcpts[m->nrcpt].state = QUEUE_RCPT_PENDING;
	m->nrcpt++;
}

void
queue_msg_free(struct queue_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	queue_file_env_clear(m);
	free(m->last_reply);
	free(m->account);
	free(m);
}

/* queue_write_all: write n octets at the file's position, retrying short writes. */
static int
queue_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
queue_msg_begin(struct queue *q, struct queue_msg *m, const char *message_id,
    uint64_t header_size)
{
	char *env;
	size_t len;

	m->message_id = queue_file_sanitize(message_id);
	m->header_size = header_size;

	/* The id: seconds and a per-process sequence; O_EXCL settles the rare clash. */
	for (int tries = 0; ; tries++) {
		snprintf(m->id, sizeof(m->id), "%08X%08X", (unsigned)m->ctime, ++q->seq);
		if ((m->fd = queue_pool_take(q, m->id)) != -1) {
			m->reused = 1;
			break;
		}
		if (errno == EEXIST && tries <= 100)
			continue;
		m->fd = openat(q->infd, m->id, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd != -1)
			break;
		if (errno != EEXIST || tries > 100)
			return -1;
	}
	/* Its sealed part is placeholders until the commit: such a file never passes. */
	env = queue_file_env_encode(m, &len, &m->env_crc);
	m->data_off = len;
	m->crc = 0;
	if (queue_write_all(m->fd, env, len) == -1) {
		int e = errno;

		free(env);
		close(m->fd);
		m->fd = -1;
		unlinkat(q->infd, m->id, 0);
		errno = e;
		return -1;
	}
	free(env);
	return 0;
}

void
queue_msg_write(struct queue_msg *m, const void *buf, size_t n)
{
	if (m->werrno != 0 || n == 0)
		return;
	m->crc = queue_file_crc(m->crc, buf, n);
	m->size += n;
	if (queue_write_all(m->fd, buf, n) == -1)
		m->werrno = errno;
}

/* queue_msg_seal: write size and the checksums in place; the file is then complete. */
static int
queue_msg_seal(struct queue_msg *m)
{
	char buf[QUEUE_FILE_SEAL_LEN];
	off_t off = (off_t)m->data_off - QUEUE_FILE_SEAL_LEN;

	queue_file_seal(buf, m->env_crc, m->size, m->crc);
	if (pwrite(m->fd, buf, sizeof(buf), off) != (ssize_t)sizeof(buf)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	/* A reused file may be longer: what follows is an old message's. */
	if (m->reused && ftruncate(m->fd, (off_t)(m->data_off + m->size)) == -1)
		return -1;
	return 0;
}

void
queue_msg_commit(struct queue *q, struct queue_msg *m,
    void (*cb)(struct queue_msg *, int, void *), void *arg)
{
	m->commit_cb = cb;
	m->commit_arg = arg;
	if (m->werrno == 0 && queue_msg_seal(m) == -1)
		m->werrno = errno;
	m->commit_next = NULL;
	*q->commit_tail = m;
	q->commit_tail = &m->commit_next;
	/* Runs after the callbacks already active in this turn: they form the batch. */
	event_active(q->commit_ev, 0, 0);
}

/* queue_sync: make everything written to the spool durable (in the syncer thread). */
static int
queue_sync(struct queue *q, struct queue_msg *batch)
{
	if (syncfs(q->dirfd) == 0)
		return 0;
	/* No syncfs (or it failed): sync each file and the directories. */
	for (struct queue_msg *m = batch; m != NULL; m = m->commit_next)
		if (m->werrno == 0 && fsync(m->fd) == -1)
			m->werrno = errno;
	fsync(q->freefd);	/* reused files left free/ */
	return fsync(q->infd);
}

/* queue_syncer: the syncer thread: one sync for each batch the loop hands over. */
static void *
queue_syncer(void *arg)
{
	struct queue *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->sync_want && !q->sync_stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (!q->sync_want)
			break;
		struct queue_msg *batch = q->sync_batch;
		int err;

		pthread_mutex_unlock(&q->mu);
		err = queue_sync(q, batch) == -1 ? (errno ? errno : EIO) : 0;
		pthread_mutex_lock(&q->mu);
		q->sync_err = err;
		q->sync_want = 0;
		/* The pipe wakes the loop (a full pipe is already a wake-up); should the
		 * write fail anyway, the loop's QUEUE_SYNC_POLL timer looks by itself. */
		for (int i = 0; i < 10; i++)
			if (write(q->sync_pipe[1], "", 1) == 1 || errno == EAGAIN)
				break;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static int
queue_syncer_start(struct queue *q)
{
	sigset_t all, old;
	int e;

	if (pipe2(q->sync_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	q->sync_ev = event_new(q->base, q->sync_pipe[0], EV_READ | EV_PERSIST,
	    queue_sync_done, q);
	if (q->sync_ev == NULL || event_add(q->sync_ev, NULL) == -1) {
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	/* Signals are the event loop's: the syncer starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&q->syncer, NULL, queue_syncer, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		pthread_cond_destroy(&q->cv);
		pthread_mutex_destroy(&q->mu);
		errno = e;
		return -1;
	}
	q->syncer_up = 1;
	return 0;
}

/* queue_syncer_stop: let a sync under way finish, then end the thread. */
static void
queue_syncer_stop(struct queue *q)
{
	if (q->syncer_up) {
		pthread_mutex_lock(&q->mu);
		q->sync_stop = 1;
		pthread_cond_signal(&q->cv);
		pthread_mutex_unlock(&q->mu);
		pthread_join(q->syncer, NULL);
		pthread_cond_destroy(&q->cv);
		pthread_mutex_destroy(&q->mu);
		q->syncer_up = 0;
	}
	if (q->sync_ev != NULL)
		event_free(q->sync_ev);
	q->sync_ev = NULL;
	for (int i = 0; i < 2; i++)
		if (q->sync_pipe[i] != -1)
			close(q->sync_pipe[i]);
}

/* queue_commit_run: hand the waiting messages to the syncer, unless it is busy. */
static void
queue_commit_run(evutil_socket_t fd, short ev, void *arg)
{
	struct queue *q = arg;

	if (q->commit_head == NULL || q->sync_batch != NULL)
		return;		/* nothing to do, or queue_sync_done calls again */
	pthread_mutex_lock(&q->mu);
	q->sync_batch = q->commit_head;
	q->sync_want = 1;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	q->commit_head = NULL;
	q->commit_tail = &q->commit_head;
	event_add(q->sync_ev, &(struct timeval){ .tv_usec = QUEUE_SYNC_POLL });
}

/* queue_sync_done: a batch is durable (or not): move it into queue/ and answer. */
static void
queue_sync_done(evutil_socket_t fd, short ev, void *arg)
{
	struct queue *q = arg;
	struct queue_msg *batch, *m, *next;
	char buf[64];
	int failed;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&q->mu);
	if (q->sync_want) {		/* a stale wake-up */
		pthread_mutex_unlock(&q->mu);
		return;
	}
	batch = q->sync_batch;
	failed = q->sync_err;
	q->sync_batch = NULL;
	pthread_mutex_unlock(&q->mu);
	if (batch == NULL)
		return;
	event_add(q->sync_ev, NULL);	/* no sync under way: no need to look */
	if (failed)
		log_err("spool: sync of %s failed: %s", q->dir, strerror(failed));
	for (m = batch; m != NULL; m = next) {
		next = m->commit_next;
		m->commit_next = NULL;
		if (m->werrno == 0 && failed)
			m->werrno = failed;
		close(m->fd);
		m->fd = -1;
		if (m->werrno == 0 &&
		    renameat2(q->infd, m->id, q->qfd, m->id, RENAME_NOREPLACE) == -1) {
			/* The message is durable in incoming/; recovery will move it. */
			log_warn("%s: spool: rename into queue/ failed: %s", m->id,
			    strerror(errno));
		}
		if (m->werrno == 0 && q->load_committed != NULL)
			q->load_committed(q, m->id);	/* (a load must not give it) */
		else
			unlinkat(q->infd, m->id, 0);
		m->commit_cb(m, m->werrno, m->commit_arg);
	}
	/* What was finished meanwhile is the next batch. */
	queue_commit_run(-1, 0, q);
}

int
queue_busy(const struct queue *q)
{
	return q->commit_head != NULL || q->sync_batch != NULL;
}

void
queue_msg_abort(struct queue *q, struct queue_msg *m)
{
	if (m->fd != -1) {
		close(m->fd);
		m->fd = -1;
		unlinkat(q->infd, m->id, 0);
	}
	queue_msg_free(m);
}

int
queue_msg_open(struct queue *q, const struct queue_msg *m)
{
	int fd = openat(q->qfd, m->id, O_RDONLY | O_CLOEXEC);

	if (fd == -1 && errno == ENOENT)	/* its rename failed; still in incoming/ */
		fd = openat(q->infd, m->id, O_RDONLY | O_CLOEXEC);
	return fd;
}

/* queue_append: append one state record line to a committed message's file. */
static void
queue_append(struct queue *q, struct queue_msg *m, const char *line)
{
	int fd = openat(q->qfd, m->id, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd == -1 || queue_write_all(fd, line, strlen(line)) == -1)
		log_err("%s: spool: cannot record delivery state: %s", m->id,
		    strerror(errno));
	if (fd != -1)
		close(fd);
}

int
queue_msg_rcpt_done(struct queue *q, struct queue_msg *m, size_t idx,
    enum queue_rcpt_state st, const char *account, const char *reply)
{
	char *line;

	m->rcpts[idx].state = st;
	for (size_t i = 0; i < m->nrcpt; i++)
		if (m->rcpts[i].state == QUEUE_RCPT_PENDING) {
			line = queue_file_done_record(idx, st, time(NULL), account, reply);
			queue_append(q, m, line);
			free(line);
			return 0;
		}
	queue_retire(q, m);
	return 1;
}

void
queue_msg_deferred(struct queue *q, struct queue_msg *m, time_t next, const char *reply)
{
	char *line;

	m->attempts++;
	m->next_try = next;
	free(m->last_reply);
	m->last_reply = queue_file_reply(reply);
	line = queue_file_deferred_record(time(NULL), next, m->last_reply);
	queue_append(q, m, line);
	free(line);
}

void
queue_msg_throttled(struct queue *q, struct queue_msg *m, const char *reply)
{
	char *line = queue_file_throttled_record(time(NULL), reply);

	m->throttled++;
	queue_append(q, m, line);
	free(line);
}

void
queue_msg_hold(struct queue *q, struct queue_msg *m, int on)
{
	char *line = queue_file_hold_record(on, time(NULL));

	m->held = on;
	queue_append(q, m, line);
	free(line);
}

void
queue_msg_remove(struct queue *q, struct queue_msg *m)
{
	queue_retire(q, m);
}

/* queue_history_add: one state record as a JSON object for queue show. */
static void
queue_history_add(json_t *hist, const char *line)
{
	char what[16], st[16];
	long long t, next;
	size_t idx;
	int n = 0;

	if (sscanf(line, "done: %zu %15s %lld %n", &idx, st, &t, &n) == 3)
		json_array_append_new(hist, json_pack("{s:o, s:I, s:I, s:o}", "event",
		    jsonstr_new(st), "time", (json_int_t)t, "rcpt", (json_int_t)idx, "detail",
		    jsonstr_new(line + n)));
	else if (sscanf(line, "deferred: %lld %lld %n", &t, &next, &n) == 2)
		json_array_append_new(hist, json_pack("{s:s, s:I, s:I, s:o}", "event",
		    "deferred", "time", (json_int_t)t, "next", (json_int_t)next, "detail",
		    jsonstr_new(line + n)));
	else if (sscanf(line, "throttled: %lld %n", &t, &n) == 1 && n > 0)
		json_array_append_new(hist, json_pack("{s:s, s:I, s:o}", "event", "throttled",
		    "time", (json_int_t)t, "detail", jsonstr_new(line + n)));
	else if (sscanf(line, "%15[a-z]: %lld", what, &t) == 2)
		json_array_append_new(hist, json_pack("{s:s, s:I}", "event", what, "time",
		    (json_int_t)t));
}

json_t *
queue_msg_describe(struct queue *q, const struct queue_msg *m)
{
	int fd = queue_msg_open(q, m);
	size_t hlen = m->header_size < 65536 ? (size_t)m->header_size : 65536;
	char *buf, *p, *nl;
	json_t *o, *rcpts = json_array(), *hist = json_array();
	struct stat st;
	ssize_t n;

	if (fd == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	for (size_t i = 0; i < m->nrcpt; i++)
		json_array_append_new(rcpts, json_pack("{s:o, s:s}", "address",
		    jsonstr_new(m->rcpts[i].addr), "state", m->rcpts[i].state == QUEUE_RCPT_PENDING ?
		    "pending" : m->rcpts[i].state == QUEUE_RCPT_SENT ? "sent" : "failed"));
	buf = xmalloc(hlen + 1);
	n = queue_read_at(fd, buf, hlen, (off_t)m->data_off);
	buf[n > 0 ? n : 0] = '\0';
	o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:I, s:o, s:o}", "id", m->id, "time",
	    (json_int_t)m->ctime, "client", jsonstr_new(m->client), "from",
	    jsonstr_new(m->sender), "message_id", jsonstr_new(m->message_id), "size",
	    (json_int_t)m->size, "recipients", rcpts, "headers",
	    jsonstr_newn(buf, (size_t)(n > 0 ? n : 0)));
	free(buf);
	uint64_t tail = (uint64_t)st.st_size - m->data_off - m->size;
	if (tail > 0 && tail < QUEUE_FILE_ENV_MAX) {
		buf = xmalloc((size_t)tail + 1);
		n = queue_read_at(fd, buf, (size_t)tail, (off_t)(m->data_off + m->size));
		buf[n > 0 ? n : 0] = '\0';
		for (p = buf; n > 0 && (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			queue_history_add(hist, p);
		}
		free(buf);
	}
	close(fd);
	json_object_set_new(o, "history", hist);
	return o;
}
