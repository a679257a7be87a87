/*
 * test_queue: the spool on a real directory: group commit through the event loop,
 * reuse of delivered files (free/), and what recovery makes of incoming/ (a committed
 * message whose rename was lost, a torn one, a reused file still holding old content),
 * and loading the queue beside the loop.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "queue.h"
#include "queue_int.h"
#include "t.h"

static char root[] = "/tmp/relayd-test-queue-XXXXXX";
static struct event_base *base;

struct loaded {
	struct queue_msg *m[16];
	int		 n;
	int		 total;		/* messages given */
	int		 done;		/* the last batch came */
	const char	*watch;		/* an id that must not be given */
	int		 watched;	/* times it was */
};

static int committed;

static void
commit_cb(struct queue_msg *m, int err, void *arg)
{
	struct queue_msg **out = arg;

	committed++;
	if (err == 0)
		*out = m;
	else
		queue_msg_free(m);
}

static void
load_cb(struct queue_msg *m, void *arg)
{
	struct loaded *l = arg;

	l->total++;
	if (l->watch != NULL && strcmp(m->id, l->watch) == 0)
		l->watched++;
	if (l->n < 16)
		l->m[l->n++] = m;
	else
		queue_msg_free(m);
}

static void
load_batch(int end, void *arg)
{
	struct loaded *l = arg;

	l->done |= end;
}

/* count: entries in root/sub, or -1. */
static int
count(const char *sub)
{
	char path[256];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static off_t
size_of(const char *sub, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", root, sub, name);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* submit: one message with body through begin, write and commit; the committed msg. */
static struct queue_msg *
submit(struct queue *q, const char *rcpt, const char *body)
{
	struct queue_msg *m = queue_msg_new(q, "127.0.0.1", "app@example.org"), *out = NULL;
	int before = committed;

	queue_msg_add_rcpt(m, rcpt);
	if (queue_msg_begin(q, m, "<t@example.org>", 2) == -1) {
		queue_msg_free(m);
		return NULL;
	}
	queue_msg_write(m, body, strlen(body));
	queue_msg_commit(q, m, commit_cb, &out);
	while (committed == before)
		event_base_loop(base, EVLOOP_ONCE);
	return out;
}

/* load: open the spool afresh (recovery included) and load everything. */
static struct queue *
load(struct loaded *l)
{
	struct queue *q = queue_open(base, root);

	memset(l, 0, sizeof(*l));
	if (q == NULL || queue_load_begin(q, load_cb, load_batch, l) == -1)
		return q;
	while (!l->done)
		event_base_loop(base, EVLOOP_ONCE);
	return q;
}

static void
free_loaded(struct loaded *l)
{
	for (int i = 0; i < l->n; i++)
		queue_msg_free(l->m[i]);
	l->n = 0;
}

/* copy: the file root/from_sub/from to root/to_sub/to, byte for byte. */
static void
copy(const char *from_sub, const char *from, const char *to_sub, const char *to)
{
	char a[256], b[256], buf[65536];
	ssize_t n;
	int in, out;

	snprintf(a, sizeof(a), "%s/%s/%s", root, from_sub, from);
	snprintf(b, sizeof(b), "%s/%s/%s", root, to_sub, to);
	in = open(a, O_RDONLY);
	out = open(b, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	while (in != -1 && out != -1 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	if (in != -1)
		close(in);
	if (out != -1)
		close(out);
}

static void
test_reuse(void)
{
	struct queue *q = queue_open(base, root);
	struct queue_msg *a, *b;
	char big[4096], a_id[QUEUE_ID_LEN + 1];
	struct loaded l;
	int fd;

	CHECK(q != NULL, "queue_open %s", root);
	if (q == NULL)
		return;
	memset(big, 'x', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	a = submit(q, "a@example.net", big);
	CHECK(a != NULL, "a committed");
	if (a == NULL)
		return;
	snprintf(a_id, sizeof(a_id), "%s", a->id);
	CHECK(count("queue") == 1 && count("incoming") == 0, "a is in queue/");
	CHECK(queue_msg_rcpt_done(q, a, 0, QUEUE_RCPT_SENT, "main", "250 ok") == 1,
	    "a finished");
	queue_msg_free(a);
	CHECK(count("queue") == 0 && count("free") == 1, "a's file went to free/: %d",
	    count("free"));

	/* b takes a's file: no new file, and it is cut to b's length. */
	b = submit(q, "b@example.net", "short\r\n");
	CHECK(b != NULL, "b committed");
	if (b == NULL)
		return;
	CHECK(count("free") == 0 && count("queue") == 1, "b reused the file from free/");
	CHECK(size_of("queue", b->id) == (off_t)(b->data_off + b->size),
	    "b's file is %lld octets, want %llu", (long long)size_of("queue", b->id),
	    (unsigned long long)(b->data_off + b->size));
	fd = queue_msg_open(q, b);
	if (fd != -1) {
		char buf[16] = "";

		CHECK(pread(fd, buf, 7, (off_t)b->data_off) == 7 && memcmp(buf, "short\r\n",
		    7) == 0, "b's body reads back: %.7s", buf);
		close(fd);
	}

	/* A reused file caught with its old content in incoming/: never recovered. */
	copy("queue", b->id, "incoming", "00000000DEADBEEF");
	queue_msg_free(b);
	queue_close(q);
	q = load(&l);
	CHECK(l.n == 1, "after restart 1 message, got %d", l.n);
	CHECK(count("incoming") == 0, "stale incoming file removed");
	free_loaded(&l);

	/* A committed message whose rename into queue/ was lost: recovered once. */
	b = submit(q, "c@example.net", "again\r\n");
	CHECK(b != NULL, "c committed");
	if (b != NULL) {
		char id[QUEUE_ID_LEN + 1];

		snprintf(id, sizeof(id), "%s", b->id);
		queue_msg_free(b);
		queue_close(q);
		copy("queue", id, "incoming", id);
		{
			char path[256];

			snprintf(path, sizeof(path), "%s/queue/%s", root, id);
			unlink(path);
		}
		q = load(&l);
		CHECK(l.n == 2, "after restart 2 messages, got %d", l.n);
		CHECK(count("incoming") == 0 && count("queue") == 2, "c moved into queue/");

		/* A copy of it in incoming/ never replaces queue/'s, state records and all. */
		for (int i = 0; i < l.n; i++)
			if (strcmp(l.m[i]->id, id) == 0)
				queue_msg_hold(q, l.m[i], 1);
		free_loaded(&l);
		queue_close(q);
		copy("queue", id, "incoming", id);
		{
			char path[256];
			FILE *f;

			snprintf(path, sizeof(path), "%s/incoming/%s", root, id);
			if ((f = fopen(path, "r+")) != NULL) {	/* as it was before the hold */
				fseek(f, 0, SEEK_END);
				if (ftruncate(fileno(f), ftell(f) - 17) != 0)
					CHECK(0, "truncate");
				fclose(f);
			}
		}
		q = load(&l);
		int held = 0;
		for (int i = 0; i < l.n; i++)
			held += strcmp(l.m[i]->id, id) == 0 && l.m[i]->held;
		CHECK(l.n == 2 && held == 1 && count("incoming") == 0,
		    "queue/ kept its hold record (%d loaded, held %d, incoming %d)", l.n, held,
		    count("incoming"));
		free_loaded(&l);
	}

	/* A torn file (size and crc never sealed) is removed. */
	queue_close(q);
	{
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/incoming/0000000000000001", root);
		if ((f = fopen(path, "w")) != NULL) {
			fputs("relayd-queue 1\nid: 0000000000000001\ntime: 1\nclient: x\n"
			    "from: a@b\nrcpt: c@d\nmessage-id: <x@y>\nheader-size: 0\n"
			    "size: ????????????????????\ncrc: ????????\n\nbody", f);
			fclose(f);
		}
	}
	q = load(&l);
	CHECK(l.n == 2 && count("incoming") == 0, "torn file removed, %d loaded", l.n);
	free_loaded(&l);
	queue_close(q);
	(void)a_id;
}

/* The pool is bounded, and a big message's file is never kept. */
static void
test_pool_bounds(void)
{
	struct queue *q = queue_open(base, root);
	struct queue_msg *m;
	char *huge = malloc(100000);
	struct loaded l;

	if (q == NULL || huge == NULL) {
		CHECK(0, "setup");
		free(huge);
		return;
	}
	/* Leftovers from test_reuse: load and finish them. */
	queue_close(q);
	q = load(&l);
	for (int i = 0; i < l.n; i++)
		queue_msg_rcpt_done(q, l.m[i], 0, QUEUE_RCPT_SENT, "main", "250 ok");
	free_loaded(&l);
	int pooled = count("free");

	memset(huge, 'y', 99997);
	memcpy(huge + 99997, "\r\n", 3);
	m = submit(q, "big@example.net", huge);
	CHECK(m != NULL, "big committed");
	if (m != NULL) {
		CHECK(count("free") == pooled - 1, "big took a pooled file");
		queue_msg_rcpt_done(q, m, 0, QUEUE_RCPT_FAILED, "main", "550 no");
		queue_msg_free(m);
		CHECK(count("free") == pooled - 1 && count("queue") == 0,
		    "a 100 KB file is unlinked, not pooled (free/ %d)", count("free"));
	}
	/* A name in free/ that is no number is removed at start-up. */
	{
		char path[256];
		FILE *f;

		snprintf(path, sizeof(path), "%s/free/junk", root);
		if ((f = fopen(path, "w")) != NULL)
			fclose(f);
	}
	queue_close(q);
	q = queue_open(base, root);
	CHECK(count("free") == pooled - 1, "junk in free/ removed");
	queue_close(q);
	free(huge);
}

/*
 * Loading beside the loop: every queued message comes exactly once, over several
 * batches, and a message committed while the queue loads never comes (the caller
 * has it), whether or not the loader read its file, and even once it is finished.
 */
static void
test_load(void)
{
	struct queue *q = queue_open(base, root);
	struct queue_msg *m;
	struct loaded l;
	char id[QUEUE_ID_LEN + 1] = "";
	int made = 0;

	if (q == NULL) {
		CHECK(0, "setup");
		return;
	}
	/* A small queue is read at once: all of it comes in the loop's first turn,
	 * before any client could be served. */
	for (int i = 0; i < 3; i++)
		if ((m = submit(q, "small@example.net", "hello\r\n")) != NULL)
			queue_msg_free(m);
	queue_close(q);
	q = queue_open(base, root);
	memset(&l, 0, sizeof(l));
	CHECK(q != NULL && queue_load_begin(q, load_cb, load_batch, &l) == 0, "small load");
	event_base_loop(base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
	CHECK(l.done && l.total == 3, "a small queue comes whole in one turn (%d, done %d)",
	    l.total, l.done);
	for (int i = 0; i < l.n; i++)
		queue_msg_rcpt_done(q, l.m[i], 0, QUEUE_RCPT_SENT, "main", "250 ok");
	free_loaded(&l);
	for (int i = 0; i < 700; i++)
		if ((m = submit(q, "load@example.net", "hello\r\n")) != NULL) {
			made++;
			queue_msg_free(m);
		}
	CHECK(made == 700, "700 messages committed, %d", made);
	queue_close(q);

	q = load(&l);
	CHECK(l.total == 700 && l.done, "700 loaded in batches, %d", l.total);
	for (int i = 0; i < l.n; i++)
		queue_msg_rcpt_done(q, l.m[i], 0, QUEUE_RCPT_SENT, "main", "250 ok");
	free_loaded(&l);
	queue_close(q);

	/* Committed, and finished, while the rest loads. */
	q = queue_open(base, root);
	memset(&l, 0, sizeof(l));
	if (q == NULL || queue_load_begin(q, load_cb, load_batch, &l) == -1) {
		CHECK(0, "load begins");
		queue_close(q);
		return;
	}
	if ((m = submit(q, "new@example.net", "meanwhile\r\n")) != NULL) {
		snprintf(id, sizeof(id), "%s", m->id);
		l.watch = id;
		queue_msg_rcpt_done(q, m, 0, QUEUE_RCPT_SENT, "main", "250 ok");
		queue_msg_free(m);
	}
	CHECK(id[0] != '\0', "a message committed while loading");
	while (!l.done)
		event_base_loop(base, EVLOOP_ONCE);
	CHECK(l.watched == 0, "the message committed meanwhile came %d time(s)", l.watched);
	CHECK(l.total == 700 - 16, "the other %d came once each, %d", 700 - 16, l.total);
	free_loaded(&l);
	queue_close(q);

	/* The same, with the loader sure to read the file: the loop is told of a commit
	 * (as queue.c does) of a message already in queue/ before any batch is taken. */
	{
		char path[256];
		struct dirent *de;
		DIR *d;

		snprintf(path, sizeof(path), "%s/queue", root);
		id[0] = '\0';
		if ((d = opendir(path)) != NULL) {
			while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
				;
			if (de != NULL)
				snprintf(id, sizeof(id), "%.16s", de->d_name);
			closedir(d);
		}
	}
	q = queue_open(base, root);
	memset(&l, 0, sizeof(l));
	l.watch = id;
	CHECK(q != NULL && queue_load_begin(q, load_cb, load_batch, &l) == 0, "load again");
	if (q != NULL) {
		q->load_committed(q, id);
		while (!l.done)
			event_base_loop(base, EVLOOP_ONCE);
	}
	CHECK(l.watched == 0 && l.total == 700 - 16 - 1, "a message known to be committed "
	    "while loading is not given (%d times; %d given)", l.watched, l.total);
	free_loaded(&l);
	queue_close(q);

	/* Out of descriptors: the loaders wait for them and still load everything. */
	{
		struct rlimit rl, low;
		int nfd = 0;
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;

		while (d != NULL && (de = readdir(d)) != NULL)
			nfd += de->d_name[0] != '.';
		if (d != NULL)
			closedir(d);
		getrlimit(RLIMIT_NOFILE, &rl);
		low = rl;
		low.rlim_cur = (rlim_t)nfd + 40;	/* far fewer than a loader's batch */
		q = queue_open(base, root);
		memset(&l, 0, sizeof(l));
		CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "lower the descriptor limit");
		CHECK(q != NULL && queue_load_begin(q, load_cb, load_batch, &l) == 0,
		    "load with few descriptors");
		while (q != NULL && !l.done)
			event_base_loop(base, EVLOOP_ONCE);
		setrlimit(RLIMIT_NOFILE, &rl);
		CHECK(l.total == 700 - 16, "all %d loaded with few descriptors, %d",
		    700 - 16, l.total);
		free_loaded(&l);
		queue_close(q);
	}

	/* Stopping in the middle (shutdown while loading) frees what was read. */
	q = queue_open(base, root);
	memset(&l, 0, sizeof(l));
	CHECK(q != NULL && queue_load_begin(q, load_cb, load_batch, &l) == 0, "load again");
	queue_close(q);
	free_loaded(&l);
}

int
main(void)
{
	char cmd[128];

	if (mkdtemp(root) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	base = event_base_new();
	test_reuse();
	test_pool_bounds();
	test_load();
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	T_DONE();
}
