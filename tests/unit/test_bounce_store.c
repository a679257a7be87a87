/*
 * test_bounce_store: the bounce store over its files in a scratch spool: matching,
 * the suppression rules, idempotent reports, and what a restart (a reopen) and a torn
 * last line leave. Each step is a case of a table run in order against one store.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bounce_parse.h"
#include "bounce_store.h"
#include "bounce_store_ctl.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "queue.h"
#include "t.h"

static char spool[] = "/tmp/test_bounce_store.XXXXXX";
static struct event_base *base;
static struct config cfg;
static struct control *ctl;
static char sockpath[128];

/* reopen: close (if open) and open the store again, as a restart does. */
static struct bounce_store *
reopen(struct bounce_store *b)
{
	bounce_store_close(b);
	control_free(ctl);
	ctl = control_new(base, sockpath);
	b = bounce_store_open(base, &cfg);
	if (b != NULL)
		bounce_store_ctl_register(ctl, b);
	return b;
}

/* sent: queue id qid with Message-ID mid was sent to rcpt via "main". */
static void
sent(struct bounce_store *b, const char *qid, const char *mid, const char *rcpt)
{
	struct queue_rcpt r = { .addr = (char *)rcpt, .state = QUEUE_RCPT_SENT };
	struct queue_msg m = { .message_id = (char *)mid, .rcpts = &r, .nrcpt = 1 };

	snprintf(m.id, sizeof(m.id), "%s", qid);
	bounce_store_sent(b, &m, 0, "main");
}

/* report: a failure report for rcpt quoting mid (NULL: none), under key. */
static int
report(struct bounce_store *b, const char *key, const char *mid, const char *rcpt,
    const char *status, enum bounce_kind kind)
{
	struct bounce_rcpt rc = { .recipient = (char *)rcpt, .kind = kind,
	    .action = (char *)"failed", .diagnostic = (char *)"550 gone" };
	struct bounce_report r = { .type = BOUNCE_FAILURE, .message_id = (char *)mid,
	    .rcpts = &rc, .nrcpts = 1 };

	snprintf(rc.status, sizeof(rc.status), "%s", status);
	return bounce_store_report(b, "main", key, &r);
}

/* file_has: how many lines of SPOOL/bounces/name contain needle. */
static int
file_has(const char *name, const char *needle)
{
	char path[256], line[4096];
	FILE *fp;
	int n = 0;

	snprintf(path, sizeof(path), "%s/bounces/%s", spool, name);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/* append_raw: write text at the end of SPOOL/bounces/name (a torn line, say). */
static void
append_raw(const char *name, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/bounces/%s", spool, name);
	fd = open(path, O_WRONLY | O_APPEND);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		CHECK(0, "cannot append to %s", path);
	close(fd);
}

int
main(void)
{
	struct bounce_store *b;
	char why[128], today[16];
	time_t now = time(NULL);
	struct tm tm;

	log_init(0, LOG_CRIT);
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if (mkdtemp(spool) == NULL)
		return 1;
	snprintf(sockpath, sizeof(sockpath), "%s/ctl.sock", spool);
	base = event_base_new();
	cfg.spool_dir = spool;
	cfg.suppress_hard = 1;
	cfg.suppress_soft_after = 2;

	b = reopen(NULL);
	CHECK(b != NULL, "open an empty spool");
	CHECK(file_has("sent", "relayd-sent 1") == 1, "sent format line");
	CHECK(file_has("bounces", "relayd-bounces 1") == 1, "bounces format line");
	CHECK(file_has("suppress", "relayd-suppress 1") == 1, "suppress format line");

	sent(b, "AAAA000000000001", "<m1@relay.test>", "Dead@Example.org");
	sent(b, "AAAA000000000002", "<m2@relay.test>", "full@example.org");
	sent(b, "AAAA000000000003", "<m3@relay.test>", "list@example.org");
	CHECK(file_has("sent", "AAAA000000000001\tmain\tm1@relay.test\tdead@example.org") == 1,
	    "sent line");

	/* A hard bounce, matched by Message-ID (any case) and recipient: suppressed. */
	CHECK(report(b, "k1", "M1@RELAY.TEST", "dead@example.org", "5.1.1", BOUNCE_HARD) == 1,
	    "hard recorded");
	CHECK(file_has("bounces", "\"queue_id\":\"AAAA000000000001\"") == 1, "matched qid");
	CHECK(file_has("bounces", "\"matched\":\"message-id\"") == 1, "matched how");
	CHECK(bounce_store_suppressed(b, "DEAD@example.ORG", why, sizeof(why)) == 1,
	    "suppressed, any case");
	char want[96];
	snprintf(want, sizeof(want), "suppressed after hard bounce on %s", today);
	CHECK_STR(why, want, "why hard");
	CHECK(file_has("suppress", "add\t") == 1 && file_has("suppress", "\tdead@example.org\thard")
	    == 1, "suppress line");

	/* The same notification again: nothing new. */
	CHECK(report(b, "k1", "m1@relay.test", "dead@example.org", "5.1.1", BOUNCE_HARD) == 0,
	    "same key again");
	/* One soft bounce of two: not yet. A second notification: suppressed. */
	CHECK(report(b, "k2", "m2@relay.test", "full@example.org", "5.2.2", BOUNCE_SOFT) == 1,
	    "soft 1");
	CHECK(!bounce_store_suppressed(b, "full@example.org", why, sizeof(why)), "1 soft of 2");
	CHECK(report(b, "k2", "m2@relay.test", "full@example.org", "5.2.2", BOUNCE_SOFT) == 0,
	    "soft 1 again");
	CHECK(!bounce_store_suppressed(b, "full@example.org", why, sizeof(why)),
	    "a repeat does not count");
	CHECK(report(b, "k3", NULL, "full@example.org", "4.2.2", BOUNCE_SOFT) == 1, "soft 2");
	CHECK(bounce_store_suppressed(b, "full@example.org", why, sizeof(why)), "2 soft of 2");
	snprintf(want, sizeof(want), "suppressed after 2 soft bounces on %s", today);
	CHECK_STR(why, want, "why soft");
	/* Without a quoted Message-ID the latest mail to the recipient is taken. */
	CHECK(file_has("bounces", "\"matched\":\"recipient\"") == 1, "matched by recipient");
	/* A Message-ID we never sent: recorded unmatched; another recipient of ours: the
	 * message (a forward). */
	CHECK(report(b, "k4", "x@elsewhere", "stranger@example.net", "5.1.1", BOUNCE_HARD) == 1,
	    "unmatched");
	CHECK(file_has("bounces", "\"queue_id\":null") == 1 &&
	    file_has("bounces", "\"matched\":\"none\"") == 1, "unmatched recorded as such");
	CHECK(report(b, "k5", "m3@relay.test", "alias@example.org", "5.2.1", BOUNCE_SOFT) == 1,
	    "forwarded");
	CHECK(file_has("bounces", "\"matched\":\"message-id-only\"") == 1, "forward matched");
	/* A report naming an internal store name (its Final-Recipient) and the address
	 * we sent to as its Original-Recipient: the address we sent to is recorded. */
	sent(b, "AAAA000000000004", "<m4@relay.test>", "orig@example.org");
	struct bounce_rcpt st = { .recipient = (char *)"store-1@mx.example.org",
	    .kind = BOUNCE_HARD, .action = (char *)"failed", .diagnostic = (char *)"",
	    .original_recipient = (char *)"Orig@Example.org",
	    .final_recipient = (char *)"store-1@mx.example.org",
	    .reason = BOUNCE_REASON_USER_UNKNOWN, .permanent = 1 };
	snprintf(st.status, sizeof(st.status), "5.1.1");
	struct bounce_report str = { .type = BOUNCE_FAILURE, .message_id = (char *)"m4@relay.test",
	    .rcpts = &st, .nrcpts = 1 };
	CHECK(bounce_store_report(b, "main", "k8", &str) == 1, "store name recorded");
	CHECK(file_has("bounces", "\"recipient\":\"orig@example.org\"") == 1 &&
	    file_has("bounces", "\"queue_id\":\"AAAA000000000004\"") == 1,
	    "the address we sent to, matched");
	CHECK(file_has("bounces", "\"permanent\":true,\"reason\":\"user_unknown\"") == 1,
	    "permanent and reason recorded");
	CHECK(bounce_store_suppressed(b, "orig@example.org", why, sizeof(why)) == 1,
	    "sent-to address suppressed");
	/* Not failures: a delayed recipient, a delivered one, a non-address. */
	struct bounce_rcpt rcs[3] = {
		{ .recipient = (char *)"late@example.org", .kind = BOUNCE_SOFT,
		  .action = (char *)"delayed", .diagnostic = (char *)"" },
		{ .recipient = (char *)"ok@example.org", .kind = BOUNCE_KIND_NONE,
		  .action = (char *)"delivered", .diagnostic = (char *)"" },
		{ .recipient = (char *)"no address", .kind = BOUNCE_HARD,
		  .action = (char *)"failed", .diagnostic = (char *)"" },
	};
	struct bounce_report mixed = { .type = BOUNCE_FAILURE, .rcpts = rcs, .nrcpts = 3 };
	CHECK(bounce_store_report(b, "main", "k6", &mixed) == 0, "nothing to record");
	struct bounce_report ar = { .type = BOUNCE_AUTOREPLY };
	CHECK(bounce_store_report(b, "main", "k7", &ar) == 0, "auto-reply");

	/* A restart: the same state, and the old notifications still count once. */
	b = reopen(b);
	CHECK(b != NULL, "reopen");
	CHECK(bounce_store_suppressed(b, "dead@example.org", why, sizeof(why)), "hard kept");
	CHECK(bounce_store_suppressed(b, "full@example.org", why, sizeof(why)), "soft kept");
	CHECK(!bounce_store_suppressed(b, "list@example.org", why, sizeof(why)), "no others");
	CHECK(report(b, "k1", "m1@relay.test", "dead@example.org", "5.1.1", BOUNCE_HARD) == 0,
	    "k1 after restart");
	CHECK(file_has("bounces", "\"key\":") == 6, "six records");

	/* A suppression lost to a crash between the two appends is made again. */
	char path[256];
	snprintf(path, sizeof(path), "%s/bounces/suppress", spool);
	FILE *fp = fopen(path, "w");
	fputs("relayd-suppress 1\n", fp);
	fclose(fp);
	b = reopen(b);
	CHECK(bounce_store_suppressed(b, "dead@example.org", why, sizeof(why)),
	    "hard redone from the records");
	CHECK(bounce_store_suppressed(b, "full@example.org", why, sizeof(why)),
	    "soft redone from the records");

	/* Torn last lines (a crash mid-append) are dropped, and appends go on cleanly. */
	append_raw("bounces", "{\"time\":1,\"key\":\"torn");
	append_raw("sent", "123\tAAAA");
	append_raw("suppress", "add\t1\tx@exa");
	b = reopen(b);
	CHECK(b != NULL, "open with torn lines");
	CHECK(file_has("bounces", "torn") == 0 && file_has("sent", "123\tAAAA") == 0 &&
	    file_has("suppress", "x@exa") == 0, "torn lines gone");
	sent(b, "AAAA000000000004", "<m4@relay.test>", "new@example.org");
	CHECK(file_has("sent", "AAAA000000000004\tmain\tm4@relay.test\tnew@example.org") == 1,
	    "append after repair");
	CHECK(!bounce_store_suppressed(b, "x@example.org", why, sizeof(why)), "torn add ignored");

	/* A file of another format is refused, not overwritten. */
	snprintf(path, sizeof(path), "%s/bounces/sent", spool);
	fp = fopen(path, "w");
	fputs("relayd-sent 9\n", fp);
	fclose(fp);
	bounce_store_close(b);
	control_free(ctl);
	ctl = control_new(base, sockpath);
	b = bounce_store_open(base, &cfg);
	CHECK(b == NULL, "unknown format refused");
	CHECK(file_has("sent", "relayd-sent 9") == 1, "left alone");

	bounce_store_close(b);
	control_free(ctl);
	event_base_free(base);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", spool);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", spool);
	T_DONE();
}
