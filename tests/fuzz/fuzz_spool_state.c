/*
 * fuzz_spool_state: libFuzzer target for the spool's other state files, through
 * their public loaders: the quota ledger (quota_open), the IMAP position
 * (imap_mailbox_load) and the bounce store's three files (bounce_store_open). The
 * input is split at "\n====\n" into up to five parts, each written as one file of a
 * fresh spool, the magic line put first unless the part starts with "!" (so most
 * inputs reach the record parsers; "!" tests the format check). Checked: nothing
 * crashes, reads out of bounds or leaks; the ledger's counts are not negative.
 * (queue files have their own target, fuzz_queue_file.)
 */
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bounce_store.h"
#include "bounce_store_ctl.h"
#include "config.h"
#include "control.h"
#include "imap_mailbox.h"
#include "log.h"
#include "quota.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct {
	const char	*path;		/* under the spool */
	const char	*magic;
} fuzz_files[] = {
	{ "ledger/main", "relayd-ledger 1\n" },
	{ "imap/main", "relayd-imap 1\n" },
	{ "bounces/sent", "relayd-sent 1\n" },
	{ "bounces/bounces", "relayd-bounces 1\n" },
	{ "bounces/suppress", "relayd-suppress 1\n" },
};
#define FUZZ_NFILES	(sizeof(fuzz_files) / sizeof(fuzz_files[0]))

/* fuzz_write: the file at spool/path with magic (unless p starts with '!') and p. */
static void
fuzz_write(const char *spool, const char *path, const char *magic, const char *p, size_t n)
{
	char *f = xasprintf("%s/%s", spool, path);
	FILE *fp = fopen(f, "w");

	if (fp != NULL) {
		if (n > 0 && p[0] == '!')
			p++, n--;
		else
			fputs(magic, fp);
		fwrite(p, 1, n, fp);
		fclose(fp);
	}
	free(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char spool[] = "/tmp/fuzz_spool_state.XXXXXX";
	static struct event_base *base;
	struct control *ctl;
	const char *p = (const char *)data, *end = p + size;
	struct config cfg;
	uint32_t uidv, last;
	long hour, day;
	char *dir;

	if (base == NULL) {
		if (mkdtemp(spool) == NULL)
			abort();
		log_init(0, -1);	/* quiet: every input is some kind of bad */
		base = event_base_new();
		for (const char *d = "ledger\0imap\0bounces\0"; *d; d += strlen(d) + 1) {
			dir = xasprintf("%s/%s", spool, d);
			mkdir(dir, 0700);
			free(dir);
		}
	}
	for (size_t i = 0; i < FUZZ_NFILES; i++) {
		const char *sep = p < end ? memmem(p, (size_t)(end - p), "\n====\n", 6) : NULL;
		size_t n = p < end ? (size_t)((sep ? sep : end) - p) : 0;

		fuzz_write(spool, fuzz_files[i].path, fuzz_files[i].magic, p, n);
		p = sep ? sep + 6 : end;
	}

	struct quota *q = quota_open(spool, "main", NULL, 1, 1732300000);
	if (q != NULL) {
		quota_set_limits(q, 100, 500);
		quota_used(q, 1732300000, &hour, &day);
		if (hour < 0 || day < 0)
			abort();
		(void)quota_room(q, 1732300000);
		quota_free(q);
	}

	dir = xasprintf("%s/imap/main", spool);
	(void)imap_mailbox_load(dir, "main", "INBOX", &uidv, &last);
	free(dir);

	memset(&cfg, 0, sizeof(cfg));
	cfg.spool_dir = spool;
	cfg.suppress_hard = 1;
	cfg.suppress_soft_after = 5;
	ctl = control_new(NULL, NULL);	/* (commands register anew each time) */
	struct bounce_store *b = bounce_store_open(base, &cfg);
	if (b != NULL) {
		bounce_store_ctl_register(ctl, b);
		char why[256];

		(void)bounce_store_suppressed(b, "rcpt@example.org", why, sizeof(why));
		bounce_store_close(b);
	}
	control_free(ctl);
	return 0;
}
