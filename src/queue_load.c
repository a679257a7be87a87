/*
 * queue_load: reading the spool back at start-up.
 *
 * First what an interrupted run left in incoming/ is finished or discarded (see the
 * top of queue.c). Then queue/ is read by threads of their own, the loaders: opening
 * and reading a million small files is almost all system time, and in threads it
 * runs beside the event loop, which meanwhile accepts mail, answers relayctl and
 * already attempts what was loaded. The first loader lists queue/ and sorts it by
 * inode number; then each loader opens the next QUEUE_LOAD_NAMES files, asks for
 * their first pages all at once (posix_fadvise), and reads them. Parsed messages go
 * to the loop in batches, through a mutex-protected array and a pipe; the loaders
 * wait while the loop is QUEUE_LOAD_AHEAD messages behind. On a cold disk that made
 * 1,000,000 files load in 34 s: 142-161 s in directory order one file at a time,
 * 95 s in inode order.
 *
 * The loaders only read files nobody else touches: a message is the loop's only once
 * handed over. The exception is mail committed while the queue loads: its file is
 * in queue/ too and a loader may read it (even while the loop writes state records
 * to it, delivers it, or reuses its file). So the loop notes every id committed while
 * loading, and drops a handed-over message whose id is among them: the scheduler
 * already has it, or had it and is done with it.
 */
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

#include "log.h"
#include "queue.h"
#include "queue_file.h"
#include "queue_int.h"
#include "xmalloc.h"

#define QUEUE_STATE_MAX		(64 * 1024 * 1024)	/* bound on its state records */
#define QUEUE_READ_FIRST	8192	/* the first read of a queue file */
#define QUEUE_LOAD_AHEAD	4096	/* it waits while this many are not yet taken */
#define QUEUE_LOAD_POLL		100000	/* µs: look for a batch (lost wake-up) */
#define QUEUE_LOADERS		2	/* loader threads (more reads in flight) */
#define QUEUE_LOAD_NAMES	128	/* files a loader opens and prefetches at once */

/* A name in queue/ and its inode number (files are read in inode order). */
struct queue_name {
	ino_t		 ino;
	char		 name[QUEUE_ID_LEN + 1];
};

struct queue_loader {
	struct queue	*q;
	DIR		*dir;		/* queue/, listed by the first loader */
	pthread_mutex_t	 dirmu;		/* (guards dir, names, nnames, next) */
	struct queue_name *names;	/* all of queue/, in inode order */
	size_t		 nnames, namescap, next;
	int		 listed;
	pthread_t	 thread[QUEUE_LOADERS];
	int		 nthreads;
	int		 threaded;	/* loader threads are (to be) running */
	int		 mu_init;	/* the mutexes and cv are initialised */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct queue_msg **read;	/* read, for the loop to take (under mu) */
	size_t		 nread, readcap;
	int		 ndone;		/* loaders that have read everything (under mu) */
	int		 end;		/* all of them have (under mu) */
	int		 stop;		/* the loop asks them to end (under mu) */
	int		 pipe[2];	/* loader -> loop: a batch is waiting */
	struct event	*ev;
	char		(*committed)[QUEUE_ID_LEN + 1];	/* ids committed meanwhile: */
	size_t		 ncommitted, committedcap;	/* the loop's alone */
	void		(*cb)(struct queue_msg *, void *);
	void		(*batch)(int, void *);
	void		*arg;
};

/*
 * queue_read_msg: load the message file id from dirfd, or from fd if it is not -1
 * (it is closed either way). verify: check the CRC too (for incoming/ files, which
 * may be incomplete). Returns the message, or NULL with errno set and *why: a reason
 * when the file's content is bad, NULL when it could not be read.
 * A queued message is usually read whole by the first read, which then also gives
 * its length: no fstat, and its state records are parsed from the same buffer.
 */
static struct queue_msg *
queue_read_msg(int dirfd, const char *id, int fd, int verify, const char **why)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));
	size_t idlen = strlen(id), want = QUEUE_READ_FIRST, have;
	enum queue_file_result r;
	uint64_t fsize;
	char *buf = NULL;
	ssize_t n;

	*why = NULL;
	m->fd = -1;
	m->sched_index = (size_t)-1;
	if (idlen >= sizeof(m->id)) {	/* no id is that long: not one of ours */
		*why = "its name is not a queue id";
		goto bad;
	}
	memcpy(m->id, id, idlen + 1);
	if (fd == -1 && (fd = openat(dirfd, id, O_RDONLY | O_CLOEXEC)) == -1)
		goto bad;
	buf = xmalloc(want + 1);
	if ((n = queue_read_at(fd, buf, want, 0)) == -1)
		goto bad;
	have = (size_t)n;
	if (have < want)
		fsize = have;
	else {
		struct stat st;

		if (fstat(fd, &st) == -1)
			goto bad;
		fsize = (uint64_t)st.st_size;
	}
	while ((r = queue_file_env_decode(buf, have, fsize, m, why)) == QUEUE_FILE_SHORT) {
		/* A partial envelope parse leaves state behind: start clean. */
		queue_file_env_clear(m);
		want *= 4;
		if (want > QUEUE_FILE_ENV_MAX)
			want = QUEUE_FILE_ENV_MAX;
		if (want > fsize)
			want = (size_t)fsize;
		buf = xrealloc(buf, want + 1);
		if ((n = queue_read_at(fd, buf, want, 0)) == -1)
			goto bad;
		if ((size_t)n < want)	/* cut meanwhile: decode what there is */
			fsize = (uint64_t)n;
		have = (size_t)n;
	}
	if (r != QUEUE_FILE_OK)
		goto bad;
	if (verify) {
		uint32_t crc = 0;
		uint64_t off = m->data_off, left = m->size;
		char *cbuf = xmalloc(65536);

		while (left > 0) {
			size_t chunk = left > 65536 ? 65536 : (size_t)left;

			if (queue_read_at(fd, cbuf, chunk, (off_t)off) != (ssize_t)chunk) {
				free(cbuf);
				*why = "the file is shorter than its size says (truncated)";
				goto bad;
			}
			crc = queue_file_crc(crc, cbuf, chunk);
			off += chunk;
			left -= chunk;
		}
		free(cbuf);
		if (crc != m->crc) {
			*why = "the message does not match its checksum (crc)";
			goto bad;
		}
	}
	uint64_t tail = fsize - m->data_off - m->size;
	if (tail >= QUEUE_STATE_MAX)
		log_err("%s: spool: %llu octets of state records; reading the last %d MB",
		    id, (unsigned long long)tail, QUEUE_STATE_MAX >> 20);
	if (tail > 0) {
		/* Past the bound only the newest records count (a partial first line
		 * matches no record). */
		uint64_t skip = tail >= QUEUE_STATE_MAX ? tail - QUEUE_STATE_MAX + 1 : 0;
		uint64_t off = m->data_off + m->size + skip;

		tail -= skip;
		if (off + tail <= have)		/* read with the envelope */
			queue_file_state_apply(m, buf + off, (size_t)tail);
		else {
			buf = xrealloc(buf, (size_t)tail + 1);
			n = queue_read_at(fd, buf, (size_t)tail, (off_t)off);
			if (n > 0)
				queue_file_state_apply(m, buf, (size_t)n);
		}
	}
	free(buf);
	close(fd);
	return m;
bad:
	if (*why != NULL)
		errno = EINVAL;
	free(buf);
	if (fd != -1)
		close(fd);
	queue_msg_free(m);
	return NULL;
}

/* queue_recover_incoming: finish or discard what an interrupted run left behind. */
static void
queue_recover_incoming(struct queue *q)
{
	DIR *d;
	struct dirent *de;

	if ((d = queue_opendir(q, "incoming")) == NULL) {
		log_err("spool: cannot read %s/incoming: %s", q->dir, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct queue_msg *m;
		const char *why;

		if (de->d_name[0] == '.')
			continue;
		if ((m = queue_read_msg(q->infd, de->d_name, -1, 1, &why)) != NULL) {
			if (renameat2(q->infd, de->d_name, q->qfd, de->d_name,
			    RENAME_NOREPLACE) == 0)
				log_info("%s: recovered a committed message from incoming/",
				    de->d_name);
			else if (errno == EEXIST) {
				/* queue/ has it, with its state records: never overwritten. */
				log_warn("%s: spool: a copy in incoming/ of a message already "
				    "in queue/ removed", de->d_name);
				unlinkat(q->infd, de->d_name, 0);
			} else
				log_err("%s: spool: cannot move into queue/: %s", de->d_name,
				    strerror(errno));
			queue_msg_free(m);
		} else {
			log_info("%s: removed an incomplete message from incoming/ (it was "
			    "never acknowledged): %s", de->d_name, why ? why : strerror(errno));
			unlinkat(q->infd, de->d_name, 0);
		}
	}
	closedir(d);
	fsync(q->qfd);
	fsync(q->infd);
}

/* The ids committed while loading: an open-addressing set, for the loop alone. */

static size_t
queue_loader_slot(const struct queue_loader *l, const char *id)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (i = h & (l->committedcap - 1); l->committed[i][0] != '\0' &&
	    strcmp(l->committed[i], id) != 0; i = (i + 1) & (l->committedcap - 1))
		;
	return i;
}

static int
queue_loader_has(const struct queue_loader *l, const char *id)
{
	return l->committedcap > 0 && l->committed[queue_loader_slot(l, id)][0] != '\0';
}

/* queue_load_committed: q->load_committed, id was committed into queue/ meanwhile. */
static void
queue_load_committed(struct queue *q, const char *id)
{
	struct queue_loader *l = q->loader;
	size_t i;

	if (l == NULL)
		return;
	if ((l->ncommitted + 1) * 2 > l->committedcap) {	/* at most half full */
		char (*old)[QUEUE_ID_LEN + 1] = l->committed;
		size_t oldcap = l->committedcap;

		l->committedcap = oldcap ? oldcap * 2 : 64;
		l->committed = xcalloc(l->committedcap, sizeof(*l->committed));
		for (size_t j = 0; j < oldcap; j++)
			if (old[j][0] != '\0')
				memcpy(l->committed[queue_loader_slot(l, old[j])], old[j],
				    sizeof(*old));
		free(old);
	}
	i = queue_loader_slot(l, id);
	if (l->committed[i][0] == '\0') {
		snprintf(l->committed[i], sizeof(l->committed[i]), "%s", id);
		l->ncommitted++;
	}
}

static void
queue_loader_free(struct queue_loader *l)
{
	for (size_t i = 0; i < l->nread; i++)
		queue_msg_free(l->read[i]);
	free(l->read);
	free(l->committed);
	if (l->ev != NULL)
		event_free(l->ev);
	for (int i = 0; i < 2; i++)
		if (l->pipe[i] != -1)
			close(l->pipe[i]);
	if (l->dir != NULL)
		closedir(l->dir);
	free(l->names);
	if (l->mu_init) {
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		pthread_mutex_destroy(&l->dirmu);
	}
	free(l);
}

/*
 * queue_loader_hand: (loader thread) give the loop n messages, end: this loader's
 * last ones.
 * Waits while the loop is far behind. Returns 1 if the loop asks the loader to end
 * (the messages are then freed).
 */
static int
queue_loader_hand(struct queue_loader *l, struct queue_msg **batch, size_t n, int end)
{
	int stop, wake = 0;

	pthread_mutex_lock(&l->mu);
	while (l->nread >= QUEUE_LOAD_AHEAD && !l->stop)
		pthread_cond_wait(&l->cv, &l->mu);
	if ((stop = l->stop) == 0) {
		if (l->nread + n > l->readcap) {
			l->readcap = l->nread + n > 2 * l->readcap ? l->nread + n :
			    2 * l->readcap;
			l->read = xreallocarray(l->read, l->readcap, sizeof(*l->read));
		}
		memcpy(l->read + l->nread, batch, n * sizeof(*batch));
		l->ndone += end;
		l->end = l->ndone == l->nthreads;
		wake = l->nread == 0 || l->end;	/* else a wake-up is on its way */
		l->nread += n;
	}
	pthread_mutex_unlock(&l->mu);
	if (stop)
		for (size_t i = 0; i < n; i++)
			queue_msg_free(batch[i]);
	/* Should the write fail, the loop's QUEUE_LOAD_POLL timer looks by itself. */
	for (int i = 0; wake && i < 10; i++)
		if (write(l->pipe[1], "", 1) == 1 || errno == EAGAIN)
			break;
	return stop;
}

static int
queue_name_cmp(const void *a, const void *b)
{
	ino_t x = ((const struct queue_name *)a)->ino, y = ((const struct queue_name *)b)->ino;

	return x < y ? -1 : x > y;
}

/*
 * queue_loader_list: list up to max more names of queue/ (with their inode numbers);
 * 1 when the directory has ended.
 */
static int
queue_loader_list(struct queue_loader *l, size_t max)
{
	struct dirent *de;

	for (size_t n = 0; n < max; n++) {
		if ((de = readdir(l->dir)) == NULL)
			return 1;
		if (de->d_name[0] == '.')
			continue;
		if (strlen(de->d_name) > QUEUE_ID_LEN) {	/* no id is that long */
			log_err("%s: spool: not a queue file, left in place (%s/queue)",
			    de->d_name, l->q->dir);
			continue;
		}
		if (l->nnames == l->namescap) {
			l->namescap = l->namescap ? l->namescap * 2 : 1024;
			l->names = xreallocarray(l->names, l->namescap, sizeof(*l->names));
		}
		l->names[l->nnames].ino = de->d_ino;
		memcpy(l->names[l->nnames++].name, de->d_name, strlen(de->d_name) + 1);
	}
	return 0;
}

/*
 * queue_loader_sort: the whole list in inode order. Directory order is hash order,
 * so on a cold disk every file would cost an inode-table read and a data read at
 * random places; files made one after another sit near each other.
 */
static void
queue_loader_sort(struct queue_loader *l)
{
	if (l->nnames > 1)	/* (an empty queue has no array at all) */
		qsort(l->names, l->nnames, sizeof(*l->names), queue_name_cmp);
	l->listed = 1;
}

/* queue_loader_names: (loader thread) the next names to read; 0 at the end. */
static size_t
queue_loader_names(struct queue_loader *l, char (*names)[QUEUE_ID_LEN + 1])
{
	size_t n = 0;

	pthread_mutex_lock(&l->dirmu);
	if (!l->listed) {	/* the first loader lists the rest of queue/ */
		queue_loader_list(l, SIZE_MAX);
		queue_loader_sort(l);
	}
	for (; n < QUEUE_LOAD_NAMES && l->next < l->nnames; n++)
		memcpy(names[n], l->names[l->next++].name, sizeof(names[n]));
	pthread_mutex_unlock(&l->dirmu);
	return n;
}

/* queue_loader_stopping: (loader thread) does the loop ask the loaders to end? */
static int
queue_loader_stopping(struct queue_loader *l)
{
	int stop;

	pthread_mutex_lock(&l->mu);
	stop = l->stop;
	pthread_mutex_unlock(&l->mu);
	return stop;
}

/*
 * queue_loader_open: (loader thread) open queue/name; -1 with errno if it cannot be.
 * Out of descriptors (clients hold them) a loader thread waits and tries again: a
 * message that cannot be opened now must not be left out of the queue until the
 * next start. (At start-up, with no clients yet, waiting would be for ever.)
 */
static int
queue_loader_open(struct queue_loader *l, const char *name)
{
	int fd;

	while ((fd = openat(l->q->qfd, name, O_RDONLY | O_CLOEXEC)) == -1 &&
	    (errno == EMFILE || errno == ENFILE) && l->threaded && !queue_loader_stopping(l))
		usleep(10000);
	return fd;
}

/*
 * queue_quarantine: (any thread) move queue/name, whose content is bad for the
 * reason why, into quarantine/, so that it is never delivered and everything else
 * goes on; one log line says which and why. A file gone meanwhile (delivered, its
 * inode reused) is not one.
 */
static void
queue_quarantine(struct queue *q, const char *name, const char *why)
{
	if (renameat2(q->qfd, name, q->quarfd, name, RENAME_NOREPLACE) == -1) {
		if (errno != ENOENT)
			log_err("%s: spool: bad queue file (%s) left in place: cannot move it "
			    "to %s/quarantine: %s", name, why, q->dir, strerror(errno));
		return;
	}
	__atomic_add_fetch(&q->nquarantined, 1, __ATOMIC_RELAXED);
	log_err("%s: spool: bad queue file moved to %s/quarantine, not delivered: %s",
	    name, q->dir, why);
}

/*
 * queue_loader_read: read the files names[0..n) into out[], returning how many are
 * messages. All n are opened and their first pages asked for at once, then read: a
 * cold disk gets many reads together (merged where files are adjacent), not one at a
 * time. (1,000,000 files from a cold disk: 95 s one by one, 51 s 32 at a time, 34 s
 * 128 at a time; from the page cache no slower.)
 */
static size_t
queue_loader_read(struct queue_loader *l, char (*names)[QUEUE_ID_LEN + 1], size_t n,
    struct queue_msg **out)
{
	int fds[QUEUE_LOAD_NAMES], errs[QUEUE_LOAD_NAMES];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		fds[i] = openat(l->q->qfd, names[i], O_RDONLY | O_CLOEXEC);
		errs[i] = fds[i] == -1 ? errno : 0;
		if (fds[i] != -1)
			posix_fadvise(fds[i], 0, QUEUE_READ_FIRST, POSIX_FADV_WILLNEED);
	}
	for (size_t i = 0; i < n; i++) {
		struct queue_msg *m = NULL;
		const char *why = NULL;

		if (fds[i] == -1 && (errs[i] == EMFILE || errs[i] == ENFILE)) {
			/* Out of descriptors: wait holding none of our own. */
			for (size_t j = i + 1; j < n; j++)
				if (fds[j] != -1) {
					close(fds[j]);
					fds[j] = -1;
					errs[j] = EMFILE;
				}
			fds[i] = queue_loader_open(l, names[i]);
			errs[i] = fds[i] == -1 ? errno : 0;
		}
		if (fds[i] != -1)	/* (closes it) */
			m = queue_read_msg(l->q->qfd, names[i], fds[i], 0, &why);
		else
			errno = errs[i];
		if (m != NULL)
			out[k++] = m;
		else if (why != NULL)
			queue_quarantine(l->q, names[i], why);
		else if (errno != ENOENT)	/* not one delivered meanwhile */
			log_err("%s: spool: unreadable queue file left in place (%s/queue): %s",
			    names[i], l->q->dir, strerror(errno));
	}
	return k;
}

/* queue_loader_run: a loader thread: read files of queue/ until there are no more. */
static void *
queue_loader_run(void *arg)
{
	struct queue_loader *l = arg;
	struct queue_msg *got[QUEUE_LOAD_NAMES];
	char names[QUEUE_LOAD_NAMES][QUEUE_ID_LEN + 1];
	size_t n;

	while ((n = queue_loader_names(l, names)) > 0)
		if (queue_loader_hand(l, got, queue_loader_read(l, names, n, got), 0))
			return NULL;
	queue_loader_hand(l, got, 0, 1);
	return NULL;
}

/* queue_load_ready: (loop) take what the loader has read; the end ends the loading. */
static void
queue_load_ready(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_loader *l = arg;
	struct queue *q = l->q;
	struct queue_msg **got;
	void (*batch)(int, void *) = l->batch;
	void *cbarg = l->arg;
	char buf[64];
	size_t n;
	int end;

	(void)ev;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&l->mu);
	got = l->read;
	n = l->nread;
	end = l->end;
	l->read = NULL;
	l->nread = l->readcap = 0;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		struct queue_msg *m = got[i];
		size_t pending = 0;

		if (queue_loader_has(l, m->id)) {	/* committed meanwhile: known */
			queue_msg_free(m);
			continue;
		}
		for (size_t j = 0; j < m->nrcpt; j++)
			pending += m->rcpts[j].state == QUEUE_RCPT_PENDING;
		if (pending == 0) {	/* finished just before a crash */
			unlinkat(q->qfd, m->id, 0);
			queue_msg_free(m);
			continue;
		}
		l->cb(m, l->arg);
	}
	free(got);
	if (end) {
		for (int i = 0; i < l->nthreads; i++)
			pthread_join(l->thread[i], NULL);
		queue_loader_free(l);
		q->loader = NULL;
	}
	if (n > 0 || end)
		batch(end, cbarg);
}

/* queue_load_stop: q->load_stop, end the loading and free what was not taken. */
static void
queue_load_stop(struct queue *q)
{
	struct queue_loader *l = q->loader;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < l->nthreads; i++)
		pthread_join(l->thread[i], NULL);
	queue_loader_free(l);
	q->loader = NULL;
}

int
queue_load_begin(struct queue *q, void (*cb)(struct queue_msg *, void *),
    void (*batch)(int, void *), void *arg)
{
	struct queue_loader *l = xcalloc(1, sizeof(*l));
	struct timeval poll = { 0, QUEUE_LOAD_POLL };
	sigset_t all, old;
	int e;

	queue_recover_incoming(q);
	l->q = q;
	l->cb = cb;
	l->batch = batch;
	l->arg = arg;
	l->pipe[0] = l->pipe[1] = -1;
	if ((l->dir = queue_opendir(q, "queue")) == NULL) {
		log_err("spool: cannot read %s/queue: %s", q->dir, strerror(errno));
		queue_loader_free(l);
		return -1;
	}
	if (pipe2(l->pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (l->ev = event_new(q->base, l->pipe[0], EV_READ | EV_PERSIST, queue_load_ready,
	    l)) == NULL || event_add(l->ev, &poll) == -1) {
		log_err("spool: cannot start loading the queue: %s", strerror(errno));
		queue_loader_free(l);
		return -1;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->dirmu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->mu_init = 1;
	q->loader = l;
	q->load_committed = queue_load_committed;
	q->load_stop = queue_load_stop;
	/*
	 * A small queue is read here, at once, and handed over in the loop's first
	 * turn, before any client or relayctl is served: threads would buy nothing,
	 * and the scheduler knows the whole queue before the first new message.
	 */
	if (queue_loader_list(l, QUEUE_LOAD_NAMES)) {
		char names[QUEUE_LOAD_NAMES][QUEUE_ID_LEN + 1];

		queue_loader_sort(l);
		for (size_t i = 0; i < l->nnames; i++)
			memcpy(names[i], l->names[i].name, sizeof(names[i]));
		l->read = xreallocarray(NULL, QUEUE_LOAD_NAMES, sizeof(*l->read));
		l->nread = queue_loader_read(l, names, l->nnames, l->read);
		l->end = 1;
		event_active(l->ev, EV_READ, 1);
		return 0;
	}
	/* Signals are the event loop's: the loaders start with all of them blocked. */
	l->threaded = 1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&l->mu);	/* (nthreads is read under mu) */
	for (e = 0; l->nthreads < QUEUE_LOADERS && e == 0; l->nthreads += e == 0)
		e = pthread_create(&l->thread[l->nthreads], NULL, queue_loader_run, l);
	pthread_mutex_unlock(&l->mu);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (l->nthreads == 0) {
		log_err("spool: cannot start the loader thread: %s", strerror(e));
		q->loader = NULL;
		queue_loader_free(l);
		return -1;
	}
	return 0;
}
