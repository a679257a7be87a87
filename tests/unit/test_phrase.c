/*
 * test_phrase: the vocabulary shared by outcome.c (replies) and bounce_status.c
 * (notices): where a phrase is read, the table's order, and the alternations
 * outcome's rules are built from (they pin what the reply rules match).
 */
#include "phrase.h"
#include "t.h"

static const struct {
	const char		*text;
	unsigned		 want, avoid;
	const char		*phrase;	/* NULL: none found */
	enum phrase_meaning	 meaning;
} finds[] = {
	{ "550 5.1.1 User Unknown", PHRASE_BOUNCE, PHRASE_WEAK, "user unknown",
	  PHRASE_USER_UNKNOWN },
	{ "550 5.1.1 User Unknown", PHRASE_REPLY, 0, "user unknown", PHRASE_USER_UNKNOWN },
	/* first in the table's order: the full mailbox before the unknown user */
	{ "user unknown or mailbox full", PHRASE_BOUNCE, PHRASE_WEAK, "mailbox full",
	  PHRASE_MAILBOX_FULL },
	/* the sender's trouble before the recipient's */
	{ "domain of sender does not exist", PHRASE_BOUNCE, PHRASE_WEAK, "domain of sender",
	  PHRASE_SENDER_REJECTED },
	/* read in replies only, not in notices */
	{ "550 recipient rejected", PHRASE_BOUNCE, PHRASE_WEAK, NULL, 0 },
	{ "550 recipient rejected", PHRASE_REPLY, 0, "recipient rejected", PHRASE_USER_UNKNOWN },
	/* read in notices only */
	{ "not listed in the directory", PHRASE_REPLY, 0, NULL, 0 },
	{ "not listed in the directory", PHRASE_BOUNCE, PHRASE_WEAK, "not listed in",
	  PHRASE_USER_UNKNOWN },
	/* weak phrases only when asked for */
	{ "connection timed out", PHRASE_BOUNCE, PHRASE_WEAK, NULL, 0 },
	{ "connection timed out", PHRASE_BOUNCE | PHRASE_WEAK, 0, "timed out", PHRASE_EXPIRED },
	{ "Ящик переполнен", PHRASE_BOUNCE, PHRASE_WEAK, "переполнен", PHRASE_MAILBOX_FULL },
	{ "all is well", PHRASE_BOUNCE | PHRASE_REPLY, 0, NULL, 0 },
	{ NULL, PHRASE_BOUNCE, 0, NULL, 0 },
};

/* What outcome's reply rules match: any change here changes what a reply means. */
static const struct {
	enum phrase_meaning	 meaning;
	unsigned		 flag;
	const char		*want;
} alts[] = {
	{ PHRASE_USER_UNKNOWN, PHRASE_REPLY, "user unknown|unknown user|no such user|"
	  "invalid recipient|no such mailbox|mailbox unavailable|invalid mailbox|"
	  "does not exist|recipient rejected" },
	{ PHRASE_MAILBOX_FULL, PHRASE_REPLY, "mailbox full|mailbox is full|over quota" },
	{ PHRASE_TOO_LARGE, PHRASE_REPLY, "message size|message too big|message too large" },
	{ PHRASE_SPAM_OR_CONTENT, PHRASE_REPLY, "spam" },
	{ PHRASE_SENDER_REJECTED, PHRASE_REPLY, "sender address rejected|not owned by" },
	{ PHRASE_MAILBOX_DISABLED, PHRASE_REPLY, "account is disabled|account disabled|"
	  "account is suspended|account blocked|account is blocked|account suspended" },
	{ PHRASE_RATE_LIMITED, PHRASE_REPLY, "ratelimit|too many|limit|quota|"
	  "try again later|try it later|try later" },
	{ PHRASE_HAS_MOVED, PHRASE_REPLY, "" },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(finds) / sizeof(finds[0]); i++) {
		const struct phrase *p = phrase_find(finds[i].text, finds[i].want,
		    finds[i].avoid);

		if (finds[i].phrase == NULL) {
			CHECK(p == NULL, "%s: found \"%s\"", finds[i].text ? finds[i].text :
			    "(null)", p ? p->text : "");
			continue;
		}
		CHECK(p != NULL && strcmp(p->text, finds[i].phrase) == 0 &&
		    p->meaning == finds[i].meaning, "%s: got \"%s\", want \"%s\"",
		    finds[i].text, p ? p->text : "(none)", finds[i].phrase);
	}
	for (size_t i = 0; i < sizeof(alts) / sizeof(alts[0]); i++) {
		char *a = phrase_alternation(alts[i].meaning, alts[i].flag);

		CHECK_STR(a, alts[i].want, "alternation");
		free(a);
	}
	/* Characters special in a regular expression are escaped. */
	{
		char *a = phrase_alternation(PHRASE_USER_UNKNOWN, PHRASE_BOUNCE);

		CHECK(strstr(a, "|resolver\\.adr|") != NULL, "escaped: %s", a);
		free(a);
	}
	T_DONE();
}
