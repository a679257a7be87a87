/*
 * smtp_auth: PLAIN and LOGIN for inbound AUTH, and the password checker.
 *
 * The two mechanisms are small enough to do here (libsasl2's server would run the
 * password check inside its own call, on the event loop). A complete set of
 * credentials becomes a job: it waits on a timer until its address and session may
 * try again, then goes to the checker thread, which reads the users file and runs
 * crypt; the verdict comes back through a pipe to the loop, which counts failures
 * per address and calls the session back.
 */
#include <sys/queue.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sasl/saslutil.h>

#include "log.h"
#include "smtp_auth.h"
#include "xmalloc.h"

#define SMTP_AUTH_DELAY_MAX	30.0	/* seconds */
#define SMTP_AUTH_FORGET	900	/* seconds without a failure: an address is forgotten */
#define SMTP_AUTH_ADDRS		256	/* addresses remembered (the oldest make room) */
#define SMTP_AUTH_ADDRLEN	46	/* INET6_ADDRSTRLEN */
/* Hashed for a user the file lacks, should the file hold no hash at all. */
#define SMTP_AUTH_DUMMY		"$6$rounds=5000$relaydnosuchuser$"

/* Where an exchange is. */
enum smtp_auth_phase {
	SMTP_AUTH_IDLE,		/* no exchange, or it ended */
	SMTP_AUTH_PLAIN_WAIT,	/* 334 said to AUTH PLAIN: the credentials come */
	SMTP_AUTH_LOGIN_USER,	/* 334 Username: */
	SMTP_AUTH_LOGIN_PASS,	/* 334 Password: */
	SMTP_AUTH_CHECKING,	/* a job is out */
};

struct smtp_auth_job {
	TAILQ_ENTRY(smtp_auth_job) entry;	/* in smtp_auth_jobs (loop only) */
	struct smtp_auth_job	*next;		/* in the todo or done list (under mu) */
	struct smtp_auth	*owner;		/* NULL once the exchange is freed (loop only) */
	struct event		*hold;		/* until the job may start */
	char			 addr[SMTP_AUTH_ADDRLEN];
	char			*user;
	char			*pass;
	size_t			 passlen;
	int			 never;		/* fails whatever the password (bad authzid) */
	int			 result;	/* checker: 1 right, 0 wrong, -1 file unreadable */
	int			 err;		/* errno when -1 */
};

struct smtp_auth {
	enum smtp_auth_phase	 phase;
	char			 addr[SMTP_AUTH_ADDRLEN];
	char			 user[256];
	int			 failures;	/* in this session */
	smtp_auth_cb		 cb;
	void			*arg;
	struct smtp_auth_job	*job;		/* while CHECKING */
};

/* Failures remembered per client address. */
struct smtp_auth_addr {
	char		 addr[SMTP_AUTH_ADDRLEN];
	int		 failures;
	double		 last;		/* the last failure or attempt */
	double		 next_ok;	/* no attempt from it starts before */
};

static struct event_base	*smtp_auth_base;
static char			*smtp_auth_file;
static TAILQ_HEAD(, smtp_auth_job) smtp_auth_jobs = TAILQ_HEAD_INITIALIZER(smtp_auth_jobs);
static struct smtp_auth_addr	 smtp_auth_addrs[SMTP_AUTH_ADDRS];

/* The checker thread and what it shares with the loop (under smtp_auth_mu). */
static pthread_t		 smtp_auth_thread;
static int			 smtp_auth_up;
static pthread_mutex_t		 smtp_auth_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 smtp_auth_cv = PTHREAD_COND_INITIALIZER;
static struct smtp_auth_job	*smtp_auth_todo, **smtp_auth_todo_tail = &smtp_auth_todo;
static struct smtp_auth_job	*smtp_auth_done;
static int			 smtp_auth_stopping;
static int			 smtp_auth_pipe[2] = { -1, -1 };
static struct event		*smtp_auth_ev;

double
smtp_auth_delay(int failures)
{
	double d = 0.5;

	if (failures <= 0)
		return 0;
	for (int i = 1; i < failures && d < SMTP_AUTH_DELAY_MAX; i++)
		d *= 2;
	return d < SMTP_AUTH_DELAY_MAX ? d : SMTP_AUTH_DELAY_MAX;
}

int
smtp_auth_plain_parse(const char *msg, size_t len, const char **authz, size_t *authzlen,
    const char **user, size_t *userlen, const char **pass, size_t *passlen)
{
	const char *nul1 = memchr(msg, '\0', len), *nul2;

	if (nul1 == NULL)
		return -1;
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL || nul2 == nul1 + 1)
		return -1;
	*authz = msg;
	*authzlen = (size_t)(nul1 - msg);
	*user = nul1 + 1;
	*userlen = (size_t)(nul2 - nul1 - 1);
	*pass = nul2 + 1;
	*passlen = len - (size_t)(nul2 + 1 - msg);
	return memchr(*pass, '\0', *passlen) == NULL ? 0 : -1;
}

/* smtp_auth_now: monotonic seconds. */
static double
smtp_auth_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* smtp_auth_addr: the record of a client address, made (or renewed) if needed. */
static struct smtp_auth_addr *
smtp_auth_addr(const char *addr, double now)
{
	struct smtp_auth_addr *a, *oldest = &smtp_auth_addrs[0];

	for (a = smtp_auth_addrs; a < smtp_auth_addrs + SMTP_AUTH_ADDRS; a++) {
		if (a->addr[0] != '\0' && strcmp(a->addr, addr) == 0)
			break;
		if (a->last < oldest->last)
			oldest = a;
	}
	if (a == smtp_auth_addrs + SMTP_AUTH_ADDRS) {
		a = oldest;
		memset(a, 0, sizeof(*a));
		snprintf(a->addr, sizeof(a->addr), "%s", addr);
	}
	if (now - a->last > SMTP_AUTH_FORGET && now >= a->next_ok)
		a->failures = 0;
	return a;
}

/*
 * smtp_auth_verify: is pass the password of user in the users file? 1, 0, or -1 with
 * *err when the file cannot be read. A user the file lacks costs the same: the whole
 * file is read, and a hash from it is computed all the same. In the checker thread.
 */
static int
smtp_auth_verify(const char *user, const char *pass, int never, int *err)
{
	static struct crypt_data cd;	/* the checker thread's only */
	char line[1024], target[1024] = SMTP_AUTH_DUMMY;
	int found = 0, ok;
	FILE *fp = fopen(smtp_auth_file, "r");

	if (fp == NULL) {
		*err = errno;
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *colon = strchr(line, ':'), *hash;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || colon == NULL)
			continue;
		*colon = '\0';
		hash = colon + 1;
		hash[strcspn(hash, ":")] = '\0';	/* passwd-style: more fields may follow */
		if (hash[0] != '$')
			continue;
		if (!found && strcmp(line, user) == 0) {
			found = 1;
			snprintf(target, sizeof(target), "%s", hash);
		} else if (!found)
			snprintf(target, sizeof(target), "%s", hash);	/* same kind of work */
	}
	fclose(fp);
	memset(&cd, 0, sizeof(cd));
	char *got = crypt_r(pass, target, &cd);
	ok = found && !never && got != NULL && got[0] != '*' && strcmp(got, target) == 0;
	explicit_bzero(&cd, sizeof(cd));
	explicit_bzero(line, sizeof(line));
	explicit_bzero(target, sizeof(target));
	return ok;
}

/* smtp_auth_checker: the checker thread: one job at a time, in order. */
static void *
smtp_auth_checker(void *arg)
{
	pthread_mutex_lock(&smtp_auth_mu);
	for (;;) {
		while (smtp_auth_todo == NULL && !smtp_auth_stopping)
			pthread_cond_wait(&smtp_auth_cv, &smtp_auth_mu);
		if (smtp_auth_stopping)
			break;
		struct smtp_auth_job *j = smtp_auth_todo;

		if ((smtp_auth_todo = j->next) == NULL)
			smtp_auth_todo_tail = &smtp_auth_todo;
		pthread_mutex_unlock(&smtp_auth_mu);
		j->result = smtp_auth_verify(j->user, j->pass, j->never, &j->err);
		pthread_mutex_lock(&smtp_auth_mu);
		j->next = smtp_auth_done;
		smtp_auth_done = j;
		/* A full pipe is a wake-up already. */
		if (write(smtp_auth_pipe[1], "", 1) == -1 && errno != EAGAIN) {
			/* the loop reads the done list on its next wake-up anyway */
		}
	}
	pthread_mutex_unlock(&smtp_auth_mu);
	return NULL;
}

/* smtp_auth_job_free: forget a job (its password first). */
static void
smtp_auth_job_free(struct smtp_auth_job *j)
{
	TAILQ_REMOVE(&smtp_auth_jobs, j, entry);
	if (j->hold != NULL)
		event_free(j->hold);
	free(j->user);
	explicit_bzero(j->pass, j->passlen);
	free(j->pass);
	free(j);
}

/* smtp_auth_verdict: a checked job: count it for its address, tell its session. */
static void
smtp_auth_verdict(struct smtp_auth_job *j)
{
	struct smtp_auth *a = j->owner;
	struct smtp_auth_addr *ad = smtp_auth_addr(j->addr, smtp_auth_now());
	enum smtp_auth_status st;

	if (j->result == 1) {
		st = SMTP_AUTH_OK;
		ad->failures = 0;
	} else if (j->result == 0) {
		st = SMTP_AUTH_FAIL;
		ad->failures++;
		ad->last = smtp_auth_now();
	} else {
		st = SMTP_AUTH_TEMPFAIL;
		log_err("smtp auth: cannot read %s: %s", smtp_auth_file, strerror(j->err));
	}
	smtp_auth_job_free(j);
	if (a == NULL)
		return;		/* the session has gone; the failure still counts */
	a->job = NULL;
	a->phase = SMTP_AUTH_IDLE;
	if (st == SMTP_AUTH_FAIL)
		a->failures++;
	a->cb(st, a->arg);	/* last: it may free a */
}

/* smtp_auth_done_cb: the checker has verdicts. */
static void
smtp_auth_done_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_auth_job *done, *rev = NULL, *j;
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&smtp_auth_mu);
	done = smtp_auth_done;
	smtp_auth_done = NULL;
	pthread_mutex_unlock(&smtp_auth_mu);
	while ((j = done) != NULL) {	/* oldest first */
		done = j->next;
		j->next = rev;
		rev = j;
	}
	while ((j = rev) != NULL) {
		rev = j->next;
		smtp_auth_verdict(j);
	}
}

/* smtp_auth_hand_over: the job may start: to the checker. */
static void
smtp_auth_hand_over(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_auth_job *j = arg;

	j->next = NULL;
	pthread_mutex_lock(&smtp_auth_mu);
	*smtp_auth_todo_tail = j;
	smtp_auth_todo_tail = &j->next;
	pthread_cond_signal(&smtp_auth_cv);
	pthread_mutex_unlock(&smtp_auth_mu);
}

/*
 * smtp_auth_submit: check user and password (len octets), once the address and the
 * session have waited out their delay. Attempts from one address start one after
 * another, each its delay after the one before.
 */
static enum smtp_auth_status
smtp_auth_submit(struct smtp_auth *a, const char *user, size_t userlen, const char *pass,
    size_t passlen, int never)
{
	struct smtp_auth_job *j = xcalloc(1, sizeof(*j));
	double now = smtp_auth_now(), start;
	struct smtp_auth_addr *ad = smtp_auth_addr(a->addr, now);
	int n = ad->failures > a->failures ? ad->failures : a->failures;
	double d = smtp_auth_delay(n);

	if (user != a->user)	/* LOGIN keeps it there already */
		snprintf(a->user, sizeof(a->user), "%.*s", (int)userlen, user);
	memcpy(j->addr, a->addr, sizeof(j->addr));
	j->user = xstrndup(user, userlen);
	j->pass = xstrndup(pass, passlen);
	j->passlen = passlen;
	j->never = never || strlen(j->user) != userlen || strlen(j->pass) != passlen;
	j->owner = a;
	a->job = j;
	a->phase = SMTP_AUTH_CHECKING;
	TAILQ_INSERT_TAIL(&smtp_auth_jobs, j, entry);
	start = now + d > ad->next_ok ? now + d : ad->next_ok;
	ad->next_ok = start + d;
	ad->last = now;
	if (start - now < 0.001) {
		smtp_auth_hand_over(-1, 0, j);
	} else {
		double w = start - now;
		struct timeval tv = { .tv_sec = (long)w, .tv_usec = (long)((w - (long)w) * 1e6) };

		if (w >= 1)
			log_info("smtp auth: client=%s after %d failure(s): the check waits "
			    "%.1f s", a->addr, n, w);
		j->hold = evtimer_new(smtp_auth_base, smtp_auth_hand_over, j);
		evtimer_add(j->hold, &tv);
	}
	return SMTP_AUTH_PENDING;
}

int
smtp_auth_init(struct event_base *base, const char *users_file)
{
	sigset_t all, old;
	int e;

	if (smtp_auth_up)
		return 0;	/* the checker reads smtp_auth_file: it stays */
	free(smtp_auth_file);
	smtp_auth_file = xstrdup(users_file);
	smtp_auth_base = base;
	if (pipe2(smtp_auth_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_err("smtp auth: pipe: %s", strerror(errno));
		return -1;
	}
	smtp_auth_ev = event_new(base, smtp_auth_pipe[0], EV_READ | EV_PERSIST,
	    smtp_auth_done_cb, NULL);
	if (smtp_auth_ev == NULL || event_add(smtp_auth_ev, NULL) == -1) {
		log_err("smtp auth: cannot watch the checker's pipe");
		return -1;
	}
	/* Signals are the event loop's: the checker starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&smtp_auth_thread, NULL, smtp_auth_checker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_err("smtp auth: cannot start the password checker: %s", strerror(e));
		return -1;
	}
	smtp_auth_up = 1;
	return 0;
}

void
smtp_auth_stop(void)
{
	struct smtp_auth_job *j;

	if (smtp_auth_up) {
		pthread_mutex_lock(&smtp_auth_mu);
		smtp_auth_stopping = 1;
		pthread_cond_signal(&smtp_auth_cv);
		pthread_mutex_unlock(&smtp_auth_mu);
		pthread_join(smtp_auth_thread, NULL);
		smtp_auth_up = 0;
	}
	while ((j = TAILQ_FIRST(&smtp_auth_jobs)) != NULL) {
		if (j->owner != NULL)
			j->owner->job = NULL;
		smtp_auth_job_free(j);
	}
	smtp_auth_todo = smtp_auth_done = NULL;
	smtp_auth_todo_tail = &smtp_auth_todo;
	if (smtp_auth_ev != NULL)
		event_free(smtp_auth_ev);
	smtp_auth_ev = NULL;
	for (int i = 0; i < 2; i++) {
		if (smtp_auth_pipe[i] != -1)
			close(smtp_auth_pipe[i]);
		smtp_auth_pipe[i] = -1;
	}
	free(smtp_auth_file);
	smtp_auth_file = NULL;
}

struct smtp_auth *
smtp_auth_new(const char *addr, smtp_auth_cb cb, void *arg)
{
	struct smtp_auth *a = xcalloc(1, sizeof(*a));

	snprintf(a->addr, sizeof(a->addr), "%s", addr);
	a->cb = cb;
	a->arg = arg;
	return a;
}

void
smtp_auth_free(struct smtp_auth *a)
{
	if (a == NULL)
		return;
	if (a->job != NULL)
		a->job->owner = NULL;
	explicit_bzero(a, sizeof(*a));
	free(a);
}

/* smtp_auth_decode: base64 from the client into buf; "=" is empty. -1 if invalid. */
static int
smtp_auth_decode(const char *in, char *buf, size_t len, unsigned *outlen)
{
	if (strcmp(in, "=") == 0) {
		*outlen = 0;
		return 0;
	}
	return sasl_decode64(in, (unsigned)strlen(in), buf, (unsigned)len, outlen) == SASL_OK ?
	    0 : -1;
}

/* smtp_auth_plain: the PLAIN credentials (base64 text): check them. */
static enum smtp_auth_status
smtp_auth_plain(struct smtp_auth *a, const char *b64)
{
	char in[1024];
	unsigned inlen;
	const char *authz, *user, *pass;
	size_t authzlen, userlen, passlen;
	enum smtp_auth_status st = SMTP_AUTH_BADARG;

	if (smtp_auth_decode(b64, in, sizeof(in), &inlen) == 0 &&
	    smtp_auth_plain_parse(in, inlen, &authz, &authzlen, &user, &userlen, &pass,
	    &passlen) == 0)
		/* Acting for another user (authzid) is not offered: that fails. */
		st = smtp_auth_submit(a, user, userlen, pass, passlen, authzlen != 0 &&
		    (authzlen != userlen || memcmp(authz, user, userlen) != 0));
	explicit_bzero(in, sizeof(in));
	if (st == SMTP_AUTH_BADARG)
		a->phase = SMTP_AUTH_IDLE;
	return st;
}

/* smtp_auth_login: a LOGIN answer (base64): the user name, then the password. */
static enum smtp_auth_status
smtp_auth_login(struct smtp_auth *a, const char *b64, const char **challenge)
{
	char in[1024];
	unsigned inlen;
	enum smtp_auth_status st = SMTP_AUTH_BADARG;

	if (smtp_auth_decode(b64, in, sizeof(in) - 1, &inlen) == 0) {
		if (a->phase == SMTP_AUTH_LOGIN_USER) {
			snprintf(a->user, sizeof(a->user), "%.*s", (int)inlen, in);
			if (inlen > 0 && inlen < sizeof(a->user) && strlen(a->user) == inlen) {
				a->phase = SMTP_AUTH_LOGIN_PASS;
				*challenge = "UGFzc3dvcmQ6";	/* "Password:" */
				st = SMTP_AUTH_CONTINUE;
			}
		} else
			st = smtp_auth_submit(a, a->user, strlen(a->user), in, inlen, 0);
	}
	explicit_bzero(in, sizeof(in));
	if (st == SMTP_AUTH_BADARG)
		a->phase = SMTP_AUTH_IDLE;
	return st;
}

enum smtp_auth_status
smtp_auth_start(struct smtp_auth *a, const char *mech, const char *initial,
    const char **challenge)
{
	if (a->phase != SMTP_AUTH_IDLE)
		return SMTP_AUTH_BADARG;
	a->user[0] = '\0';
	if (strcasecmp(mech, "PLAIN") == 0) {
		if (initial != NULL) {
			a->phase = SMTP_AUTH_PLAIN_WAIT;
			return smtp_auth_plain(a, initial);
		}
		a->phase = SMTP_AUTH_PLAIN_WAIT;
		*challenge = "";
		return SMTP_AUTH_CONTINUE;
	}
	if (strcasecmp(mech, "LOGIN") == 0) {
		a->phase = SMTP_AUTH_LOGIN_USER;
		if (initial != NULL)
			return smtp_auth_login(a, initial, challenge);
		*challenge = "VXNlcm5hbWU6";	/* "Username:" */
		return SMTP_AUTH_CONTINUE;
	}
	return SMTP_AUTH_BADARG;
}

enum smtp_auth_status
smtp_auth_step(struct smtp_auth *a, const char *line, const char **challenge)
{
	if (strcmp(line, "*") == 0) {	/* cancelled (RFC 4954 4) */
		a->phase = SMTP_AUTH_IDLE;
		return SMTP_AUTH_BADARG;
	}
	switch (a->phase) {
	case SMTP_AUTH_PLAIN_WAIT:
		return smtp_auth_plain(a, line);
	case SMTP_AUTH_LOGIN_USER:
	case SMTP_AUTH_LOGIN_PASS:
		return smtp_auth_login(a, line, challenge);
	default:
		return SMTP_AUTH_BADARG;
	}
}

const char *
smtp_auth_user(struct smtp_auth *a)
{
	return a->user;
}
