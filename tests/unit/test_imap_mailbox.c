/*
 * test_imap_mailbox: mailbox names in modified UTF-7 (a table), and the saved position
 * (save, load, and what makes a load start afresh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_mailbox.h"
#include "log.h"
#include "t.h"

static const struct quote_case {
	const char	*name, *want;	/* want NULL: refused */
} quote_cases[] = {
	{ "INBOX", "\"INBOX\"" },
	{ "Bounces", "\"Bounces\"" },
	{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
	{ "a&b", "\"a&-b\"" },
	{ "&", "\"&-\"" },
	{ "Sent Items", "\"Sent Items\"" },
	{ "\xd0\x9e\xd1\x82\xd0\xba\xd0\xb0\xd0\xb7\xd1\x8b", "\"&BB4EQgQ6BDAENwRL-\"" },
	/* RFC 3501 5.1.3's own example */
	{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	  "\"~peter/mail/&U,BTFw-/&ZeVnLIqe-\"" },
	{ "Bounces/\xd0\x9e\xd1\x82\xd0\xba\xd0\xb0\xd0\xb7\xd1\x8b 2026",
	  "\"Bounces/&BB4EQgQ6BDAENwRL- 2026\"" },
	{ "Entw\xc3\xbcrfe", "\"Entw&APw-rfe\"" },
	{ "\xf0\x9f\x98\x80", "\"&2D3eAA-\"" },		/* outside the BMP: a surrogate pair */
	{ "", NULL },
	{ "a\rb", NULL },
	{ "a\nb", NULL },
	{ "a\x7f", NULL },
	{ "\xc3", NULL },			/* cut short */
	{ "\xc0\xaf", NULL },			/* overlong */
	{ "\xed\xa0\x80", NULL },		/* a surrogate in UTF-8 */
	{ "\xf4\x90\x80\x80", NULL },		/* beyond U+10FFFF */
	{ "\xff", NULL },
};

static void
test_quote(void)
{
	for (size_t i = 0; i < sizeof(quote_cases) / sizeof(quote_cases[0]); i++) {
		const struct quote_case *c = &quote_cases[i];
		char *got = imap_mailbox_quote(c->name), ctx[32];

		snprintf(ctx, sizeof(ctx), "quote %zu", i);
		if (c->want == NULL)
			CHECK(got == NULL, "%s: got \"%s\", want refusal", ctx, got);
		else if (got == NULL)
			CHECK(got != NULL, "%s: refused, want \"%s\"", ctx, c->want);
		else
			CHECK_STR(got, c->want, ctx);
		free(got);
	}
}

static void
test_position(void)
{
	char dir[] = "/tmp/test_imap_mailbox.XXXXXX", path[64];
	uint32_t uv = 0, lu = 0;
	FILE *fp;

	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp failed");
		return;
	}
	snprintf(path, sizeof(path), "%s/main", dir);
	CHECK(imap_mailbox_load(path, "main", "INBOX", &uv, &lu) == 0, "missing file");
	CHECK(imap_mailbox_save(path, "main", "INBOX", 1700000000u, 42) == 0, "save");
	CHECK(imap_mailbox_load(path, "main", "INBOX", &uv, &lu) == 1, "load");
	CHECK(uv == 1700000000u && lu == 42, "loaded %u %u", uv, lu);
	CHECK(imap_mailbox_load(path, "main", "Other", &uv, &lu) == 0, "another folder");
	CHECK(imap_mailbox_save(path, "main", "INBOX", 4294967295u, 4294967295u) == 0,
	    "save max");
	CHECK(imap_mailbox_load(path, "main", "INBOX", &uv, &lu) == 1 &&
	    uv == 4294967295u && lu == 4294967295u, "max values %u %u", uv, lu);
	/* A damaged file is not trusted. */
	fp = fopen(path, "w");
	fputs("relayd-imap 1\nfolder: INBOX\nuidvalidity: 5\n", fp);
	fclose(fp);
	CHECK(imap_mailbox_load(path, "main", "INBOX", &uv, &lu) == 0, "no last-uid");
	fp = fopen(path, "w");
	fputs("relayd-imap 2\nfolder: INBOX\nuidvalidity: 5\nlast-uid: 3\n", fp);
	fclose(fp);
	CHECK(imap_mailbox_load(path, "main", "INBOX", &uv, &lu) == 0, "other version");
	fp = fopen(path, "w");
	fputs("relayd-imap 1\nfolder: INBOX\nuidvalidity: 99999999999\nlast-uid: 3\n", fp);
	fclose(fp);
	CHECK(imap_mailbox_load(path, "main", "INBOX", &uv, &lu) == 0, "uidvalidity range");
	CHECK(imap_mailbox_save("/nonexistent/dir/main", "main", "INBOX", 1, 1) == -1,
	    "unwritable");
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	log_init(0, LOG_CRIT);		/* the expected warnings stay quiet */
	test_quote();
	test_position();
	T_DONE();
}
