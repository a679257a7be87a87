/*
 * relay-sendmail: the sendmail-compatible command. cron, PHP's mail() and other
 * programs run "sendmail -t -i" (or give the recipients as arguments) and write the
 * message on stdin; this hands it to relayd over its SMTP listener (the first
 * `listen` address in the config) and exits with a sysexits(3) status.
 *
 * Only `listen`, `hostname` and `max_message_size` are read from the config, with
 * libconfig directly: the command runs as any user and must not need to read the
 * accounts' secrets. If the config cannot be read at all, relayd's default listen
 * address is assumed, and an error says so.
 *
 * The pure work (options, CRLF, headers, dot-stuffing) is sendmail.c; the SMTP
 * dialogue is sendmail_smtp.c. This file reads, decides and reports.
 */
#include <errno.h>
#include <libconfig.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sendmail.h"
#include "sendmail_smtp.h"
#include "smtp_parse.h"
#include "xmalloc.h"

#define RELAY_SENDMAIL_CONFIG	"/etc/relayd/relay.conf"
#define RELAY_SENDMAIL_LISTEN	"127.0.0.1:2525"	/* relayd's own default */
#define RELAY_SENDMAIL_MAXSIZE	(1ULL << 31)		/* config.c's upper bound */

/* What relay-sendmail takes from relay.conf. */
struct relay_sendmail_conf {
	char			 listen[128];
	char			 hostname[256];
	unsigned long long	 max_size;	/* max_message_size, when known */
	char			 note[320];	/* why the defaults were used, or "" */
};

static void
relay_sendmail_usage(FILE *fp)
{
	fprintf(fp, "usage: relay-sendmail [-C CONFIG] [-t] [-i] [-f SENDER] [-F NAME] "
	    "[-v] [RECIPIENT...]\n"
	    "       relay-sendmail [-C CONFIG] -bs\n"
	    "  reads a message on standard input and hands it to relayd\n"
	    "  -bs        speak SMTP on standard input and output, answered by relayd\n"
	    "  -C CONFIG  relayd's configuration, for its listen address (default %s)\n"
	    "  -t         also send to the To:, Cc: and Bcc: addresses (Bcc: is removed)\n"
	    "  -i, -oi    a line with a single \".\" does not end the message\n"
	    "  -f SENDER  envelope sender (default: you@this host)\n"
	    "  -F NAME    display name for the From: added when the message has none\n"
	    "  -v         show the SMTP dialogue with relayd\n"
	    "  ignored, for compatibility: -o* (-odi, -oem, ...), -bm, -B TYPE, -U, -N, -R, -V\n"
	    "exit: 0 queued, 64 usage, 65 bad message or no recipients, 66 no input,\n"
	    "      67 recipient refused, 69 relayd unreachable, 75 try again later\n",
	    RELAY_SENDMAIL_CONFIG);
}

/*
 * relay_sendmail_conf: read what is needed from the config at path. Returns 0, or an
 * exit status after printing why: an explicit -C file that cannot be read, a syntax
 * error. The default file being unreadable is not an error (a note, and defaults).
 */
static int
relay_sendmail_conf(const char *path, int given, struct relay_sendmail_conf *c)
{
	const config_setting_t *l;
	const char *s;
	long long ll;
	config_t cf;

	snprintf(c->listen, sizeof(c->listen), "%s", RELAY_SENDMAIL_LISTEN);
	if (gethostname(c->hostname, sizeof(c->hostname)) == -1 || c->hostname[0] == '\0')
		snprintf(c->hostname, sizeof(c->hostname), "localhost");
	c->hostname[sizeof(c->hostname) - 1] = '\0';
	c->max_size = RELAY_SENDMAIL_MAXSIZE;
	c->note[0] = '\0';

	config_init(&cf);
	if (!config_read_file(&cf, path)) {
		int e = errno;

		if (config_error_type(&cf) != CONFIG_ERR_FILE_IO) {
			fprintf(stderr, "relay-sendmail: %s:%d: %s\n", path,
			    config_error_line(&cf), config_error_text(&cf));
			config_destroy(&cf);
			return EX_CONFIG;
		}
		config_destroy(&cf);
		if (given) {
			fprintf(stderr, "relay-sendmail: cannot read %s: %s\n", path,
			    strerror(e));
			return EX_NOINPUT;
		}
		snprintf(c->note, sizeof(c->note), " (%s could not be read: %s; relayd's "
		    "default address was assumed)", path, strerror(e));
		return 0;
	}
	if ((l = config_lookup(&cf, "listen")) != NULL && config_setting_length(l) > 0 &&
	    (s = config_setting_get_string_elem(l, 0)) != NULL)
		snprintf(c->listen, sizeof(c->listen), "%s", s);
	if (config_lookup_string(&cf, "hostname", &s) && s[0] != '\0')
		snprintf(c->hostname, sizeof(c->hostname), "%s", s);
	if (config_lookup_int64(&cf, "max_message_size", &ll) && ll > 0)
		c->max_size = (unsigned long long)ll;
	else
		c->max_size = 31457280;		/* config.c's default */
	config_destroy(&cf);
	return 0;
}

/*
 * relay_sendmail_sender: the envelope sender from -f (angle brackets and a display
 * name allowed; a bare user name gets @host), or the invoking user@host.
 * Returns 0, or -1 after printing why.
 */
static int
relay_sendmail_sender(const char *f, const char *host, char *out, size_t outlen)
{
	char buf[SMTP_PATH_MAX];
	const char *lt, *gt;
	size_t n;

	if (f == NULL) {
		struct passwd *pw = getpwuid(getuid());

		snprintf(buf, sizeof(buf), "%s", pw != NULL ? pw->pw_name : "nobody");
	} else {
		if ((lt = strchr(f, '<')) != NULL && (gt = strrchr(f, '>')) != NULL && gt > lt)
			snprintf(buf, sizeof(buf), "%.*s", (int)(gt - lt - 1), lt + 1);
		else
			snprintf(buf, sizeof(buf), "%s", f);
	}
	n = strspn(buf, " \t");
	memmove(buf, buf + n, strlen(buf + n) + 1);
	buf[strcspn(buf, " \t")] = '\0';
	if (buf[0] == '\0') {		/* -f "" or -f "<>": the null sender */
		out[0] = '\0';
		return 0;
	}
	n = (size_t)snprintf(out, outlen, "%s%s%s", buf, strchr(buf, '@') ? "" : "@",
	    strchr(buf, '@') ? "" : host);
	if (n >= outlen || n > SMTP_PATH_MAX - 3 || !smtp_parse_mailbox(out, n)) {
		fprintf(stderr, "relay-sendmail: %s\"%s\" is not a valid sender address%s\n",
		    f ? "-f: " : "", out, f ? "" : " (give one with -f)");
		return -1;
	}
	return 0;
}

/* relay_sendmail_read: all of stdin, up to max octets. NULL after printing why. */
static char *
relay_sendmail_read(size_t max, size_t *len, int *status)
{
	size_t cap = 65536, n = 0;
	char *buf = xmalloc(cap);
	ssize_t r;

	for (;;) {
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(STDIN_FILENO, buf + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fprintf(stderr, "relay-sendmail: cannot read the message from standard "
			    "input: %s\n", strerror(errno));
			*status = EX_NOINPUT;
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			fprintf(stderr, "relay-sendmail: the message is larger than relayd "
			    "accepts (max_message_size %zu octets); it was not sent\n", max / 2);
			*status = EX_DATAERR;
			free(buf);
			return NULL;
		}
	}
	*len = n;
	return buf;
}

int
main(int argc, char **argv)
{
	struct sendmail_opts o;
	struct sendmail_rcpts rcpts = { 0 };
	struct relay_sendmail_conf conf;
	struct sendmail_prep prep;
	struct sendmail_smtp_job job;
	char err[512], sender[SMTP_PATH_MAX], self[SMTP_PATH_MAX], queued[512], msg[1024];
	char *raw = NULL, *canon = NULL, *mail = NULL, *data = NULL;
	size_t rawlen, canonlen, maillen, datalen;
	int status = EX_OK;

	openlog("relay-sendmail", LOG_PID, LOG_MAIL);
	if (sendmail_parse_args(argc, argv, &o, err, sizeof(err)) == -1) {
		fprintf(stderr, "relay-sendmail: %s\n", err);
		relay_sendmail_usage(stderr);
		sendmail_opts_free(&o);
		return EX_USAGE;
	}
	if (o.mode == 'i') {		/* newaliases: relayd has no aliases */
		sendmail_opts_free(&o);
		return EX_OK;
	}
	if ((status = relay_sendmail_conf(o.config ? o.config : RELAY_SENDMAIL_CONFIG,
	    o.config != NULL, &conf)) != 0)
		goto done;
	if (o.mode == 's') {		/* the caller speaks SMTP: relayd answers it */
		signal(SIGPIPE, SIG_IGN);
		if ((status = sendmail_smtp_relay(conf.listen, STDIN_FILENO, STDOUT_FILENO,
		    msg, sizeof(msg))) != EX_OK) {
			fprintf(stderr, "relay-sendmail: %s%s\n", msg,
			    status == EX_UNAVAILABLE ? conf.note : "");
			syslog(LOG_ERR, "uid=%u -bs: %s", (unsigned)getuid(), msg);
		}
		goto done;
	}
	if (relay_sendmail_sender(o.sender, conf.hostname, sender, sizeof(sender)) == -1 ||
	    relay_sendmail_sender(NULL, conf.hostname, self, sizeof(self)) == -1) {
		status = EX_USAGE;
		goto done;
	}
	for (size_t i = 0; i < o.nrcpts; i++) {
		if (sendmail_addrlist(o.rcpts[i], strlen(o.rcpts[i]), &rcpts, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "relay-sendmail: recipient %s; the message was not "
			    "sent\n", err);
			status = EX_DATAERR;
			goto done;
		}
	}

	/* LF line ends may grow to CRLF: read up to twice the limit, check it after. */
	if ((raw = relay_sendmail_read(conf.max_size * 2, &rawlen, &status)) == NULL)
		goto done;
	canon = sendmail_canon(raw, rawlen, o.ignore_dots, &canonlen);
	prep = (struct sendmail_prep){ .extract = o.extract, .fullname = o.fullname,
	    .from_addr = sender[0] ? sender : self, .now = time(NULL) };
	if (sendmail_prepare(canon, canonlen, &prep, &rcpts, &mail, &maillen, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "relay-sendmail: %s; the message was not sent\n", err);
		status = EX_DATAERR;
		goto done;
	}
	if (rcpts.n == 0) {
		fprintf(stderr, "relay-sendmail: no recipients: give them as arguments, or "
		    "use -t with To:, Cc: or Bcc: in the message\n");
		status = EX_DATAERR;
		goto done;
	}
	if (maillen > conf.max_size) {
		fprintf(stderr, "relay-sendmail: the message is %zu octets, more than relayd "
		    "accepts (max_message_size %llu); it was not sent\n", maillen,
		    conf.max_size);
		status = EX_DATAERR;
		goto done;
	}
	data = sendmail_dotstuff(mail, maillen, &datalen);
	job = (struct sendmail_smtp_job){ .addr = conf.listen, .helo = conf.hostname,
	    .sender = sender, .rcpts = &rcpts, .data = data, .datalen = datalen,
	    .size = maillen, .eightbit = sendmail_has_8bit(mail, maillen),
	    .verbose = o.verbose };
	status = sendmail_smtp_submit(&job, queued, sizeof(queued), msg, sizeof(msg));
	if (status == EX_OK) {
		syslog(LOG_INFO, "uid=%u from=<%s> nrcpt=%zu size=%zu queued as %s",
		    (unsigned)getuid(), sender, rcpts.n, maillen, queued);
		if (o.verbose)
			fprintf(stderr, "relay-sendmail: queued as %s for %zu recipient%s\n",
			    queued, rcpts.n, rcpts.n == 1 ? "" : "s");
	} else {
		fprintf(stderr, "relay-sendmail: %s%s\n", msg,
		    status == EX_UNAVAILABLE ? conf.note : "");
		syslog(LOG_ERR, "uid=%u from=<%s> nrcpt=%zu: %s", (unsigned)getuid(), sender,
		    rcpts.n, msg);
	}
done:
	free(raw);
	free(canon);
	free(mail);
	free(data);
	sendmail_rcpts_free(&rcpts);
	sendmail_opts_free(&o);
	return status;
}
