/*
 * sendmail_smtp: relay-sendmail's lock-step SMTP client to relayd (see the header).
 *
 * The dialogue is an explicit state per command; the table below gives each state
 * its reply timeout and what a permanent (5xx) refusal there means for the exit
 * status. "Send the command for this state" (sendmail_smtp_enter_state) is kept apart
 * from "read the reply and choose the next state" (sendmail_smtp_response).
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <event2/util.h>

#include "sendmail_smtp.h"
#include "xmalloc.h"

enum sendmail_smtp_state {
	SENDMAIL_SMTP_GREETING,
	SENDMAIL_SMTP_EHLO,
	SENDMAIL_SMTP_HELO,
	SENDMAIL_SMTP_MAIL,
	SENDMAIL_SMTP_RCPT,
	SENDMAIL_SMTP_DATA,
	SENDMAIL_SMTP_BODY,
	SENDMAIL_SMTP_QUIT,
	SENDMAIL_SMTP_DONE,
	SENDMAIL_SMTP_NSTATES
};

static const struct {
	const char	*name;
	int		 timeout;	/* seconds for the reply */
	int		 perm;		/* exit status after a 5xx reply */
} sendmail_smtp_states[] = {
	[SENDMAIL_SMTP_GREETING] = { "greeting", 60, EX_UNAVAILABLE },
	[SENDMAIL_SMTP_EHLO] = { "EHLO", 60, EX_UNAVAILABLE },
	[SENDMAIL_SMTP_HELO] = { "HELO", 60, EX_UNAVAILABLE },
	[SENDMAIL_SMTP_MAIL] = { "MAIL", 60, EX_DATAERR },
	[SENDMAIL_SMTP_RCPT] = { "RCPT", 60, EX_NOUSER },
	[SENDMAIL_SMTP_DATA] = { "DATA", 60, EX_DATAERR },
	/* relayd answers the end of data once the message is on disk (fsync) */
	[SENDMAIL_SMTP_BODY] = { "end of data", 300, EX_DATAERR },
	[SENDMAIL_SMTP_QUIT] = { "QUIT", 10, EX_OK },
	[SENDMAIL_SMTP_DONE] = { "done", 0, EX_OK },
};
_Static_assert(sizeof(sendmail_smtp_states) / sizeof(sendmail_smtp_states[0]) ==
    SENDMAIL_SMTP_NSTATES, "a row for every state");

struct sendmail_smtp {
	const struct sendmail_smtp_job *job;
	int		 fd;
	enum sendmail_smtp_state state;
	char		 in[4096];	/* what relayd sent, not yet read as lines */
	size_t		 inlen;
	int		 code;		/* the last reply's code */
	char		 reply[512];	/* and its text, lines joined with " / " */
	int		 ext_size, ext_8bit; /* offered in the EHLO reply */
	size_t		 batch;		/* the first recipient of this transaction */
	size_t		 next;		/* the next recipient to send RCPT for */
	size_t		 accepted;	/* recipients taken in this transaction */
	size_t		 sent;		/* recipients in transactions already queued */
	char		*queued;	/* queue ids so far */
	size_t		 queuedlen;
	char		*msg;		/* what went wrong */
	size_t		 msglen;
	int		 status;	/* the exit status that goes with it */
};

static const char *
sendmail_smtp_state_name(enum sendmail_smtp_state st)
{
	return st < SENDMAIL_SMTP_NSTATES ? sendmail_smtp_states[st].name : "?";
}

/* sendmail_smtp_fail: set the sentence saying what went wrong; returns status. */
static int __attribute__((format(printf, 3, 4)))
sendmail_smtp_fail(struct sendmail_smtp *s, int status, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(s->msg, s->msglen, fmt, ap);
	va_end(ap);
	s->status = status;
	if (s->sent > 0 && (n = strlen(s->msg)) < s->msglen)
		snprintf(s->msg + n, s->msglen - n, " (it was queued for %zu of the %zu "
		    "recipients before that, as %s)", s->sent, s->job->rcpts->n, s->queued);
	return status;
}

/* sendmail_smtp_unknown: what a lost reply means for the message in this state. */
static const char *
sendmail_smtp_unknown(const struct sendmail_smtp *s)
{
	return s->state == SENDMAIL_SMTP_BODY ? "relayd may or may not have queued the "
	    "message (try again: a duplicate is better than a loss)" :
	    "the message was not sent";
}

/* sendmail_smtp_write: the whole buffer, or -1. */
static int
sendmail_smtp_write(struct sendmail_smtp *s, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(s->fd, buf, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* sendmail_smtp_command: send one command line; -1 when the connection is gone. */
static int __attribute__((format(printf, 2, 3)))
sendmail_smtp_command(struct sendmail_smtp *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = sizeof(line) - 3;
	if (s->job->verbose)
		fprintf(stderr, ">>> %s\n", line);
	memcpy(line + n, "\r\n", 2);
	return sendmail_smtp_write(s, line, (size_t)n + 2);
}

/*
 * sendmail_smtp_line: the next line relayd sent, without CRLF, into line[len].
 * Returns 0, or -1 with s->msg set (timeout, connection lost, a line too long).
 */
static int
sendmail_smtp_line(struct sendmail_smtp *s, char *line, size_t len)
{
	int timeout = sendmail_smtp_states[s->state].timeout;

	for (;;) {
		char *eol = memchr(s->in, '\n', s->inlen);
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		ssize_t n;

		if (eol != NULL) {
			size_t l = (size_t)(eol - s->in), k = l;

			if (k > 0 && s->in[k - 1] == '\r')
				k--;
			if (k >= len)
				k = len - 1;
			memcpy(line, s->in, k);
			line[k] = '\0';
			memmove(s->in, eol + 1, s->inlen - l - 1);
			s->inlen -= l + 1;
			return 0;
		}
		if (s->inlen == sizeof(s->in)) {
			sendmail_smtp_fail(s, EX_PROTOCOL, "relayd sent a reply line longer "
			    "than %zu octets at %s", sizeof(s->in),
			    sendmail_smtp_state_name(s->state));
			return -1;
		}
		n = poll(&pfd, 1, timeout * 1000);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0) {
			sendmail_smtp_fail(s, EX_TEMPFAIL, "relayd did not answer %s within "
			    "%d s; %s", sendmail_smtp_state_name(s->state), timeout,
			    sendmail_smtp_unknown(s));
			return -1;
		}
		n = read(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			sendmail_smtp_fail(s, EX_TEMPFAIL, "relayd closed the connection at %s%s%s"
			    "; %s", sendmail_smtp_state_name(s->state), n == -1 ? ": " : "",
			    n == -1 ? strerror(errno) : "", sendmail_smtp_unknown(s));
			return -1;
		}
		s->inlen += (size_t)n;
	}
}

/*
 * sendmail_smtp_reply: read one (multi-line) reply into s->code and s->reply; notes
 * SIZE and 8BITMIME in an EHLO reply. Returns 0, or -1 with s->msg set.
 */
static int
sendmail_smtp_reply(struct sendmail_smtp *s)
{
	char line[1024];
	size_t off = 0;
	int lines = 0;

	s->reply[0] = '\0';
	for (;;) {
		if (sendmail_smtp_line(s, line, sizeof(line)) == -1)
			return -1;
		if (s->job->verbose)
			fprintf(stderr, "<<< %s\n", line);
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-') || ++lines > 100) {
			sendmail_smtp_fail(s, EX_PROTOCOL, "relayd's reply at %s is not SMTP: "
			    "\"%.80s\"", sendmail_smtp_state_name(s->state), line);
			return -1;
		}
		s->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (s->state == SENDMAIL_SMTP_EHLO && lines > 1) {
			if (strncasecmp(line + 4, "SIZE", 4) == 0 &&
			    (line[8] == '\0' || line[8] == ' '))
				s->ext_size = 1;
			if (strcasecmp(line + 4, "8BITMIME") == 0)
				s->ext_8bit = 1;
		}
		if (off < sizeof(s->reply))
			off += (size_t)snprintf(s->reply + off, sizeof(s->reply) - off, "%s%s",
			    off ? " / " : "", lines == 1 ? line : line + 4);
		if (line[3] != '-')
			return 0;
	}
}

/* sendmail_smtp_enter_state: go to state st and send its command. 0, or -1. */
static int
sendmail_smtp_enter_state(struct sendmail_smtp *s, enum sendmail_smtp_state st)
{
	const struct sendmail_smtp_job *j = s->job;
	int r = 0;

	s->state = st;
	switch (st) {
	case SENDMAIL_SMTP_GREETING:
	case SENDMAIL_SMTP_DONE:
	case SENDMAIL_SMTP_NSTATES:
		break;
	case SENDMAIL_SMTP_EHLO:
		r = sendmail_smtp_command(s, "EHLO %s", j->helo);
		break;
	case SENDMAIL_SMTP_HELO:
		r = sendmail_smtp_command(s, "HELO %s", j->helo);
		break;
	case SENDMAIL_SMTP_MAIL: {
		char size[40] = "";

		if (s->ext_size)
			snprintf(size, sizeof(size), " SIZE=%zu", j->size);
		s->accepted = 0;
		s->next = s->batch;
		r = sendmail_smtp_command(s, "MAIL FROM:<%s>%s%s", j->sender, size,
		    j->eightbit && s->ext_8bit ? " BODY=8BITMIME" : "");
		break;
	}
	case SENDMAIL_SMTP_RCPT:
		r = sendmail_smtp_command(s, "RCPT TO:<%s>", j->rcpts->addr[s->next]);
		break;
	case SENDMAIL_SMTP_DATA:
		r = sendmail_smtp_command(s, "DATA");
		break;
	case SENDMAIL_SMTP_BODY:
		if (j->verbose)
			fprintf(stderr, ">>> (message, %zu octets)\n>>> .\n", j->datalen);
		r = sendmail_smtp_write(s, j->data, j->datalen);
		break;
	case SENDMAIL_SMTP_QUIT:
		r = sendmail_smtp_command(s, "QUIT");
		break;
	}
	if (r == -1)
		sendmail_smtp_fail(s, EX_TEMPFAIL, "relayd closed the connection at %s: %s; "
		    "the message was not sent", sendmail_smtp_state_name(st), strerror(errno));
	return r;
}

/* sendmail_smtp_refused: the status and sentence for a 4xx/5xx reply in this state. */
static int
sendmail_smtp_refused(struct sendmail_smtp *s)
{
	int temp = s->code < 500;
	int status = temp ? EX_TEMPFAIL : sendmail_smtp_states[s->state].perm;
	const char *after = temp ? "; the message was not sent: try again later" :
	    "; the message was not sent";

	switch (s->state) {
	case SENDMAIL_SMTP_GREETING:
	case SENDMAIL_SMTP_EHLO:
	case SENDMAIL_SMTP_HELO:
		return sendmail_smtp_fail(s, status, "relayd refused the session at %s: %s%s",
		    sendmail_smtp_state_name(s->state), s->reply, after);
	case SENDMAIL_SMTP_MAIL:
		return sendmail_smtp_fail(s, status, "relayd refused sender <%s>: %s%s",
		    s->job->sender, s->reply, after);
	case SENDMAIL_SMTP_RCPT:
		return sendmail_smtp_fail(s, status, "relayd refused recipient <%s>: %s%s",
		    s->job->rcpts->addr[s->next], s->reply, after);
	default:
		return sendmail_smtp_fail(s, status, "relayd refused the message at %s: %s%s",
		    sendmail_smtp_state_name(s->state), s->reply, after);
	}
}

/* sendmail_smtp_queued: note the queue id from "250 2.0.0 Ok: queued as ID". */
static void
sendmail_smtp_queued(struct sendmail_smtp *s)
{
	const char *id = strstr(s->reply, "queued as ");
	size_t n = strlen(s->queued);

	id = id ? id + strlen("queued as ") : "?";
	snprintf(s->queued + n, s->queuedlen - n, "%s%.*s", n ? " " : "",
	    (int)strcspn(id, " /"), id);
}

/*
 * sendmail_smtp_response: read the reply to the current state's command and choose
 * the next state. Returns the next state, or SENDMAIL_SMTP_NSTATES when the dialogue
 * ends in failure (s->status and s->msg say how).
 */
static enum sendmail_smtp_state
sendmail_smtp_response(struct sendmail_smtp *s)
{
	const struct sendmail_rcpts *r = s->job->rcpts;

	if (s->state == SENDMAIL_SMTP_QUIT) {
		/* Everything is queued: whatever QUIT gets changes nothing. */
		if (sendmail_smtp_reply(s) == -1)
			s->msg[0] = '\0';
		s->status = EX_OK;
		return SENDMAIL_SMTP_DONE;
	}
	if (sendmail_smtp_reply(s) == -1)
		return SENDMAIL_SMTP_NSTATES;
	switch (s->state) {
	case SENDMAIL_SMTP_GREETING:
		if (s->code == 220)
			return SENDMAIL_SMTP_EHLO;
		break;
	case SENDMAIL_SMTP_EHLO:
		if (s->code == 250)
			return SENDMAIL_SMTP_MAIL;
		if (s->code >= 500)	/* not ESMTP: plain HELO, no extensions */
			return SENDMAIL_SMTP_HELO;
		break;
	case SENDMAIL_SMTP_HELO:
		if (s->code == 250)
			return SENDMAIL_SMTP_MAIL;
		break;
	case SENDMAIL_SMTP_MAIL:
		if (s->code == 250)
			return SENDMAIL_SMTP_RCPT;
		break;
	case SENDMAIL_SMTP_RCPT:
		if (s->code == 250 || s->code == 251) {
			s->accepted++;
			return ++s->next < r->n ? SENDMAIL_SMTP_RCPT : SENDMAIL_SMTP_DATA;
		}
		if (s->code == 452 && s->accepted > 0)
			return SENDMAIL_SMTP_DATA;	/* the rest in the next transaction */
		break;
	case SENDMAIL_SMTP_DATA:
		if (s->code == 354)
			return SENDMAIL_SMTP_BODY;
		break;
	case SENDMAIL_SMTP_BODY:
		if (s->code == 250) {
			sendmail_smtp_queued(s);
			s->sent += s->accepted;
			s->batch = s->next;
			return s->batch < r->n ? SENDMAIL_SMTP_MAIL : SENDMAIL_SMTP_QUIT;
		}
		break;
	case SENDMAIL_SMTP_QUIT:
	case SENDMAIL_SMTP_DONE:
	case SENDMAIL_SMTP_NSTATES:
		return SENDMAIL_SMTP_DONE;
	}
	if (s->code < 400)
		sendmail_smtp_fail(s, EX_PROTOCOL, "relayd answered %s with an unexpected "
		    "reply: %s; the message was not sent", sendmail_smtp_state_name(s->state),
		    s->reply);
	else
		sendmail_smtp_refused(s);
	return SENDMAIL_SMTP_NSTATES;
}

/* sendmail_smtp_connect: a connected socket to addr, or -1 with s->msg set. */
static int
sendmail_smtp_connect(struct sendmail_smtp *s, const char *addr)
{
	struct sockaddr_storage ss;
	struct timeval tv = { .tv_sec = 60 };
	int sslen = sizeof(ss), fd, e;

	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) == -1) {
		sendmail_smtp_fail(s, EX_CONFIG, "\"%s\" is not ADDRESS:PORT", addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&ss, (socklen_t)sslen) == -1) {
		e = errno;
		if (fd != -1)
			close(fd);
		sendmail_smtp_fail(s, EX_UNAVAILABLE, "cannot reach relayd at %s: %s%s", addr,
		    strerror(e), e == ECONNREFUSED || e == ETIMEDOUT || e == ENETUNREACH ||
		    e == EADDRNOTAVAIL ? " (is relayd running?)" : "");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* sendmail_smtp_copy: move what fd from has to fd to; 0 on end of file, -1 error. */
static ssize_t
sendmail_smtp_copy(int from, int to)
{
	char buf[16384];
	ssize_t n, w, off;

	if ((n = read(from, buf, sizeof(buf))) <= 0)
		return n == -1 && (errno == EINTR || errno == EAGAIN) ? 1 : n;
	for (off = 0; off < n; off += w)
		if ((w = write(to, buf + off, (size_t)(n - off))) == -1) {
			if (errno == EINTR) {
				w = 0;
				continue;
			}
			return -1;
		}
	return n;
}

int
sendmail_smtp_relay(const char *addr, int in, int out, char *msg, size_t msglen)
{
	struct sendmail_smtp s = { .msg = msg, .msglen = msglen, .status = EX_OK };
	struct pollfd pfd[2];
	int in_open = 1, status = EX_OK;
	ssize_t n;

	msg[0] = '\0';
	if ((s.fd = sendmail_smtp_connect(&s, addr)) == -1) {
		dprintf(out, "421 4.3.0 relay-sendmail: %s\r\n", msg);
		return s.status;
	}
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = s.fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = in_open ? in : -1, .events = POLLIN };
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			if ((n = sendmail_smtp_copy(s.fd, out)) == 0)
				break;			/* relayd ended the session */
			if (n == -1) {
				snprintf(msg, msglen, "the session with relayd failed: %s",
				    strerror(errno));
				status = EX_IOERR;
				break;
			}
		}
		if (pfd[1].revents) {
			if ((n = sendmail_smtp_copy(in, s.fd)) <= 0) {
				in_open = 0;		/* relayd still answers what it got */
				shutdown(s.fd, SHUT_WR);
			}
		}
	}
	close(s.fd);
	return status;
}

int
sendmail_smtp_submit(const struct sendmail_smtp_job *job, char *queued, size_t queuedlen,
    char *msg, size_t msglen)
{
	struct sendmail_smtp s = { .job = job, .queued = queued, .queuedlen = queuedlen,
	    .msg = msg, .msglen = msglen, .status = EX_OK };
	enum sendmail_smtp_state next = SENDMAIL_SMTP_GREETING;

	queued[0] = msg[0] = '\0';
	if (job->rcpts->n == 0)
		return sendmail_smtp_fail(&s, EX_DATAERR, "no recipients");
	if ((s.fd = sendmail_smtp_connect(&s, job->addr)) == -1)
		return s.status;
	while (next != SENDMAIL_SMTP_DONE) {
		if (sendmail_smtp_enter_state(&s, next) == -1)
			break;
		if ((next = sendmail_smtp_response(&s)) == SENDMAIL_SMTP_NSTATES) {
			if (s.state != SENDMAIL_SMTP_GREETING)
				sendmail_smtp_command(&s, "QUIT");	/* best effort */
			break;
		}
	}
	close(s.fd);
	return s.status;
}
