/*
 * test_replies: the reply model. How reply lines become the normalised form
 * (outcome_reply_line), then what real provider replies mean through the presets'
 * rules and the built-ins, each in its one-line form and as several lines (as Gmail
 * sends them), and when a refusal of every recipient is about the account.
 */
#include <stdlib.h>

#include "config.h"
#include "outcome.h"
#include "preset.h"
#include "t.h"

/* feed: lines separated by '\n' into r; returns the last outcome_reply_line result. */
static int
feed(struct outcome_reply *r, const char *lines)
{
	int ret = -2;

	outcome_reply_init(r);
	while (*lines != '\0') {
		const char *nl = strchr(lines, '\n');
		size_t n = nl ? (size_t)(nl - lines) : strlen(lines);

		if ((ret = outcome_reply_line(r, lines, n)) == -1)
			return -1;
		lines += n + (nl != NULL);
	}
	return ret;
}

static const struct {
	const char	*lines;
	int		 ret;		/* of the last line */
	const char	*want;		/* normalised, when ret is 1 */
} norm[] = {
	{ "250 OK", 1, "250 OK" },
	{ "250", 1, "250" },
	{ "250 2.0.0 OK queued", 1, "250 2.0.0 OK queued" },
	{ "250-first line\n250 second", 1, "250 first line second" },
	{ "550-5.4.5 Daily user sending limit exceeded. For more information on Gmail\n"
	  "550-5.4.5 sending limits go to\n"
	  "550 5.4.5  https://support.google.com/mail/?p=ReachedLimit a1sor",
	  1, "550 5.4.5 Daily user sending limit exceeded. For more information on Gmail "
	  "sending limits go to https://support.google.com/mail/?p=ReachedLimit a1sor" },
	{ "535-5.7.8 Username and Password not accepted. Learn more at\n"
	  "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x1",
	  1, "535 5.7.8 Username and Password not accepted. Learn more at "
	  "https://support.google.com/mail/?p=BadCredentials x1" },
	{ "550-\n550 x", 1, "550 x" },
	{ "550-5.7.1 a\n550 5.7.2 b", 1, "550 5.7.1 a 5.7.2 b" },	/* another code is text */
	{ "550 \t lots   of\t\tblanks  ", 1, "550 lots of blanks" },
	{ "550 5.4.5x not an enhanced code", 1, "550 5.4.5x not an enhanced code" },
	{ "550-5.4.5 more to come", 0, NULL },
	/* foreign bytes: CP1251 and KOI8-R become \xHH, UTF-8 stays, controls too */
	{ "550 \xcf\xf0\xe5\xe2\xfb\xf8\xe5\xed limit", 1,
	  "550 \\xcf\\xf0\\xe5\\xe2\\xfb\\xf8\\xe5\\xed limit" },
	{ "550-5.7.1 \xf0\xd2\xc5\xd7\xd9\xdb\xc5\xce\n550 5.7.1 limit", 1,
	  "550 5.7.1 \\xf0\\xd2\\xc5\\xd7\\xd9\\xdb\\xc5\\xce limit" },
	{ "550 Превышен лимит", 1, "550 Превышен лимит" },
	{ "550 a\x01" "b\x7f" "c \xc0\xaf \xed\xa0\x80", 1, "550 a\\x01b\\x7fc \\xc0\\xaf \\xed\\xa0\\x80" },
	/* not replies */
	{ "25", -1, NULL },
	{ "abc", -1, NULL },
	{ "2500 x", -1, NULL },
	{ "650 x", -1, NULL },
	{ "250-a\n251 b", -1, NULL },
	{ "250_a", -1, NULL },
};

/* How a one-line reply is also sent: split in two lines, the enhanced code repeated. */
static void
multi(const char *one, char *out, size_t len)
{
	const char *text = one + (strlen(one) > 4 ? 4 : strlen(one));
	char enh[16] = "";
	const char *sp;
	size_t half;

	if (text[0] >= '2' && text[0] <= '5' && text[1] == '.' &&
	    (sp = strchr(text, ' ')) != NULL && sp - text < (long)sizeof(enh)) {
		memcpy(enh, text, (size_t)(sp - text));
		enh[sp - text] = ' ';
		enh[sp - text + 1] = '\0';
		text = sp + 1;
	}
	half = strlen(text) / 2;
	while (text[half] != '\0' && text[half] != ' ')
		half++;
	snprintf(out, len, "%.3s-%s%.*s\n%.3s %s%s", one, enh, (int)half, text, one, enh,
	    text[half] ? text + half + 1 : "");
}

#define A_SENT		OUTCOME_SENT
#define A_RETRY		OUTCOME_RETRY
#define A_THROTTLE	OUTCOME_THROTTLE
#define A_FAIL		OUTCOME_FAIL
#define A_DISABLE	OUTCOME_DISABLE

static const struct {
	const char		*preset;	/* NULL: the built-in rules alone */
	enum outcome_stage	 stage;
	const char		*reply;		/* one-line form */
	enum outcome_action	 want;
} real[] = {
	/* Gmail (PROVIDERS.md) */
	{ NULL, OUTCOME_DATA, "550 5.4.5 Daily user sending limit exceeded. For more "
	  "information on Gmail sending limits go to https://support.google.com/x", A_THROTTLE },
	{ "gmail", OUTCOME_DATA, "550 5.4.5 Daily user sending limit exceeded.", A_THROTTLE },
	{ "gmail", OUTCOME_RCPT, "550 5.4.5 Daily user sending limit exceeded.", A_THROTTLE },
	{ "gmail", OUTCOME_MAIL, "550 5.4.5 Daily user sending limit exceeded.", A_THROTTLE },
	{ NULL, OUTCOME_AUTH, "535 5.7.8 Username and Password not accepted. Learn more at "
	  "https://support.google.com/mail/?p=BadCredentials", A_DISABLE },
	{ "gmail", OUTCOME_AUTH, "535 5.7.8 Username and Password not accepted.", A_DISABLE },
	{ NULL, OUTCOME_AUTH, "534 5.7.9 Application-specific password required. Learn more "
	  "at https://support.google.com/mail/?p=InvalidSecondFactor", A_DISABLE },
	{ "gmail", OUTCOME_AUTH, "534 5.7.9 Application-specific password required.",
	  A_DISABLE },
	{ NULL, OUTCOME_AUTH, "454 4.7.0 Too many login attempts, please try again later.",
	  A_THROTTLE },
	{ "gmail", OUTCOME_AUTH, "454 4.7.0 Too many login attempts, please try again later.",
	  A_THROTTLE },
	{ NULL, OUTCOME_CONNECT, "421 4.7.0 Try again later, closing connection.", A_THROTTLE },
	{ "gmail", OUTCOME_MAIL, "421 4.7.0 Try again later, closing connection.", A_THROTTLE },
	{ "gmail", OUTCOME_DATA, "421 4.7.0 Try again later, closing connection.", A_THROTTLE },
	/* Mail.ru: 553 after many sends, at every stage */
	{ NULL, OUTCOME_MAIL, "553 the server does not want to send your message", A_THROTTLE },
	{ "mail.ru", OUTCOME_MAIL, "553 the server does not want to send your message",
	  A_THROTTLE },
	{ "mail.ru", OUTCOME_MAIL, "553", A_THROTTLE },
	{ "mail.ru", OUTCOME_RCPT, "553 the server does not want to send your message",
	  A_THROTTLE },
	{ "mail.ru", OUTCOME_DATA, "553 the server does not want to send your message",
	  A_THROTTLE },
	{ "mail.ru", OUTCOME_MAIL, "550 Message sending for this account is disabled",
	  A_DISABLE },
	/* Yandex: a bare 550, at every stage */
	{ NULL, OUTCOME_MAIL, "550", A_THROTTLE },
	{ "yandex", OUTCOME_MAIL, "550", A_THROTTLE },
	{ "yandex", OUTCOME_RCPT, "550", A_THROTTLE },
	{ "yandex", OUTCOME_DATA, "550", A_THROTTLE },
	{ "yandex", OUTCOME_MAIL, "550 Message rejected", A_THROTTLE },
	{ "yandex", OUTCOME_RCPT, "550 Message rejected", A_THROTTLE },
	{ "yandex", OUTCOME_DATA, "550 Message rejected", A_THROTTLE },
	/* Outlook: its submission quota */
	{ "outlook", OUTCOME_DATA, "554 5.2.0 STOREDRV.Submission.Exception:"
	  "SubmissionQuotaExceededException; Failed to process message due to a permanent "
	  "exception with message Cannot submit message.", A_THROTTLE },
	{ "outlook", OUTCOME_RCPT, "554 5.2.0 STOREDRV.Submission.Exception:"
	  "SubmissionQuotaExceededException; Failed to process message", A_THROTTLE },
	{ "outlook", OUTCOME_MAIL, "554 5.2.0 STOREDRV.Submission.Exception:"
	  "SubmissionQuotaExceededException; Failed to process message", A_THROTTLE },
	/* one unknown recipient fails alone, whatever the preset */
	{ NULL, OUTCOME_RCPT, "550 5.1.1 <nobody@example.org>: Recipient address rejected: "
	  "User unknown in virtual mailbox table", A_FAIL },
	{ "gmail", OUTCOME_RCPT, "550 5.1.1 The email account that you tried to reach does "
	  "not exist.", A_FAIL },
	{ "yandex", OUTCOME_RCPT, "550 5.7.1 No such user!", A_FAIL },
	{ "mail.ru", OUTCOME_RCPT, "550 5.1.1 user unknown", A_FAIL },
	{ "mail.ru", OUTCOME_RCPT, "553 5.1.1 user unknown", A_FAIL },
	{ "outlook", OUTCOME_RCPT, "550 5.1.1 Requested action not taken: mailbox unavailable",
	  A_FAIL },
	/* a sender the login does not own: a config error, not a limit */
	{ NULL, OUTCOME_MAIL, "553 5.7.1 <shop@example.ru>: Sender address rejected: not "
	  "owned by auth user", A_DISABLE },
	{ NULL, OUTCOME_RCPT, "553 5.7.1 <shop@example.ru>: Sender address rejected: not "
	  "owned by auth user", A_DISABLE },
	{ "mail.ru", OUTCOME_MAIL, "553 5.7.1 Sender address rejected: not owned by auth user.",
	  A_DISABLE },
	{ "yandex", OUTCOME_MAIL, "553 5.7.1 Sender address rejected: not owned by auth user.",
	  A_DISABLE },
	{ "yandex", OUTCOME_MAIL, "550 5.7.1 Sender address rejected: not owned by user x",
	  A_DISABLE },
	/* what must stay as it was */
	{ "rambler", OUTCOME_DATA, "550 5.7.1 Spam message rejected. If this is not spam "
	  "contact abuse at rambler-co.ru", A_FAIL },
	{ "yandex", OUTCOME_DATA, "250 2.0.0 Ok: queued on mail.yandex.net", A_SENT },
	{ NULL, OUTCOME_DATA, "451 4.3.0 Local error in processing", A_RETRY },
};

/* rules: the compiled rules of the preset called name (n set), or NULL for none. */
static struct outcome_rule *
rules(const char *name, size_t *n)
{
	const struct preset *p;
	struct outcome_rule *r;
	char err[256];

	*n = 0;
	if (name == NULL || (p = preset_find(name)) == NULL)
		return NULL;
	while (p->rules[*n].match != NULL)
		(*n)++;
	r = calloc(*n, sizeof(*r));
	for (size_t i = 0; i < *n; i++)
		CHECK(outcome_rule_compile(&r[i], p->rules[i].match, p->rules[i].stage,
		    p->rules[i].action, err, sizeof(err)) == 0, "%s: %s", name, err);
	return r;
}

static const struct {
	const char		*replies[4];	/* NULL-terminated */
	enum outcome_action	 act;		/* what each was classified as */
	int			 want;
} refused[] = {
	{ { "550", "550", "550", NULL }, A_FAIL, 1 },
	{ { "550", NULL }, A_FAIL, 1 },
	{ { "550 Message rejected", "550 Message rejected", NULL }, A_FAIL, 1 },
	{ { "554 5.7.1 Blocked <a@x>", "554 5.7.1 Blocked <b@x>", NULL }, A_FAIL, 1 },
	{ { "550 5.1.1 unknown <a@x>", "550 5.1.1 unknown <b@x>", NULL }, A_FAIL, 0 },
	{ { "550 5.2.1 disabled", "550 5.2.1 disabled", NULL }, A_FAIL, 0 },
	{ { "550 no such user", "550 no such user", NULL }, A_FAIL, 0 },
	{ { "550 5.7.1 a", "550 5.7.2 b", NULL }, A_FAIL, 0 },
	{ { "550 x", "553 x", NULL }, A_FAIL, 0 },
	{ { "550 5.7.1 x", "550 x", NULL }, A_FAIL, 0 },
	{ { "452 4.5.3 too many", "452 4.5.3 too many", NULL }, A_RETRY, 0 },
	{ { NULL }, A_FAIL, 0 },
};

int
main(void)
{
	struct outcome_reply r;
	char buf[8192];
	int ret;

	for (size_t i = 0; i < sizeof(norm) / sizeof(norm[0]); i++) {
		ret = feed(&r, norm[i].lines);
		CHECK(ret == norm[i].ret, "\"%s\": returned %d, want %d", norm[i].lines, ret,
		    norm[i].ret);
		if (ret == 1 && norm[i].want != NULL)
			CHECK_STR(r.text, norm[i].want, norm[i].lines);
		if (ret == 1)
			CHECK(strlen(r.text) == r.len, "\"%s\": len", norm[i].lines);
	}

	/* Bounds: lines, octets, and the normalised form cut at a character. */
	outcome_reply_init(&r);
	for (int i = 0; i < OUTCOME_REPLY_LINES; i++)
		CHECK(outcome_reply_line(&r, "250-trickle", 11) == 0, "line %d", i);
	CHECK(outcome_reply_line(&r, "250-trickle", 11) == -1, "line cap");
	outcome_reply_init(&r);
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "250-", 4);
	for (int i = 0; i < OUTCOME_REPLY_OCTETS / (int)sizeof(buf); i++)
		ret = outcome_reply_line(&r, buf, sizeof(buf) - 2);
	CHECK(ret == 0 && outcome_reply_line(&r, buf, sizeof(buf) - 2) == -1, "octet cap");
	CHECK(r.len == OUTCOME_REPLY_MAX - 1 && strlen(r.text) == r.len, "cut: %zu", r.len);
	outcome_reply_init(&r);
	strcpy(buf, "550 ");
	for (size_t i = 4; i + 2 < 3000; i += 2)
		memcpy(buf + i, "\xd0\x96", 2);		/* a 2-octet character, repeated */
	CHECK(outcome_reply_line(&r, buf, 2998) == 1 && r.len < OUTCOME_REPLY_MAX &&
	    (r.len - 4) % 2 == 0, "cut at a character: %zu", r.len);

	/* Real replies, one-line and multi-line, each with its preset. */
	for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
		size_t n;
		struct outcome_rule *ext = rules(real[i].preset, &n);

		for (int form = 0; form < 2; form++) {
			enum outcome_action got;

			if (form == 0)
				snprintf(buf, sizeof(buf), "%s", real[i].reply);
			else
				multi(real[i].reply, buf, sizeof(buf));
			CHECK(feed(&r, buf) == 1, "\"%s\" is a whole reply", buf);
			got = outcome_classify(ext, n, real[i].stage, r.text);
			CHECK(got == real[i].want, "%s [%s] %s \"%s\" (as \"%s\"): got %s, want %s",
			    real[i].preset ? real[i].preset : "built-in",
			    outcome_stage_name(real[i].stage), form ? "multi-line" : "one-line",
			    buf, r.text, outcome_action_name(got),
			    outcome_action_name(real[i].want));
		}
		for (size_t j = 0; j < n; j++)
			outcome_rule_free(&ext[j]);
		free(ext);
	}

	/* A foreign-charset reply still classifies by its code and English words. */
	CHECK(feed(&r, "550-\xcf\xf0\xe5\xe2\xfb\xf8\xe5\xed\n550 sending limit") == 1 &&
	    outcome_classify(NULL, 0, OUTCOME_DATA, r.text) == OUTCOME_THROTTLE, "%s", r.text);

	/* Every recipient refused the same way: about the account. */
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		enum outcome_action acts[4];
		size_t n = 0;

		while (refused[i].replies[n] != NULL)
			acts[n] = refused[i].act, n++;
		CHECK(outcome_all_refused(refused[i].replies, acts, n) == refused[i].want,
		    "all refused #%zu (\"%s\"...): want %d", i,
		    n ? refused[i].replies[0] : "", refused[i].want);
	}
	CHECK(outcome_is_guess(OUTCOME_RCPT, "550") && outcome_is_guess(OUTCOME_DATA,
	    "550 Message rejected") && !outcome_is_guess(OUTCOME_DATA, "550 5.4.5 limit") &&
	    !outcome_is_guess(OUTCOME_MAIL, "553"), "guesses");

	/*
	 * The bound on guesses (outcome_guess_bound), backoff 300 s to 3600 s: 29 steps
	 * take 300+600+1200+2400+25*3600 = 94500 s. One account refusing every 3600 s
	 * (after the first steps) reaches it at the 30th guess; two accounts refusing the
	 * message in turn, twice as often, do not: they must span as long. A throttle
	 * that is no guess neither counts nor starts over; a transaction not throttled
	 * starts over.
	 */
	for (int accounts = 1; accounts <= 2; accounts++) {
		int guesses = 0, fired = 0, at = 0, nonguess = 0;
		double since = 0, t = 0;

		for (int k = 1; k <= 200 && !fired; k++) {
			double step = 300 * (k < 5 ? 1 << (k - 1) : 12) * 0.91;

			nonguess += outcome_guess_bound(&guesses, &since, 1, 0, t, 300, 3600);
			fired = outcome_guess_bound(&guesses, &since, 1, 1, t, 300, 3600);
			at = k;
			t += step / accounts;
		}
		CHECK(fired == 1 && !nonguess && (accounts == 1 ? at == OUTCOME_GUESS_MAX :
		    at > 50), "%d account(s): the bound at guess %d", accounts, at);
	}
	{
		int guesses = 0;
		double since = 0;

		for (int k = 0; k < OUTCOME_GUESS_MAX - 1; k++)
			outcome_guess_bound(&guesses, &since, 1, 1, k * 1e4, 300, 3600);
		CHECK(guesses == OUTCOME_GUESS_MAX - 1 && since == 0, "guesses %d", guesses);
		CHECK(!outcome_guess_bound(&guesses, &since, 0, 0, 1e6, 300, 3600) &&
		    guesses == 0, "a transaction not throttled starts over");
		CHECK(!outcome_guess_bound(&guesses, &since, 1, 1, 2e6, 300, 3600) &&
		    guesses == 1 && since == 2e6, "and the first guess after it is the first");
	}
	T_DONE();
}
