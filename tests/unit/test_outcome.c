/*
 * test_outcome: what provider replies mean, as a table (PROVIDERS.md's replies first).
 */
#include "outcome.h"
#include "t.h"

static const struct {
	enum outcome_stage	 stage;
	const char		*reply;
	enum outcome_action	 want;
} cases[] = {
	{ OUTCOME_DATA, "250 2.0.0 OK queued", OUTCOME_SENT },
	{ OUTCOME_RCPT, "250 2.1.5 OK", OUTCOME_SENT },
	/* recipients */
	{ OUTCOME_RCPT, "550 5.1.1 <a@b>: Recipient address rejected: User unknown", OUTCOME_FAIL },
	{ OUTCOME_RCPT, "550 5.2.1 Mailbox disabled", OUTCOME_FAIL },
	{ OUTCOME_RCPT, "553 sorry, no such user here", OUTCOME_FAIL },
	{ OUTCOME_RCPT, "552 5.2.2 Mailbox full", OUTCOME_RETRY },
	{ OUTCOME_RCPT, "452 4.5.3 Too many recipients", OUTCOME_RETRY },
	{ OUTCOME_RCPT, "450 4.2.0 Greylisted, try again", OUTCOME_RETRY },
	/* the account is held back: never a bounce */
	{ OUTCOME_MAIL, "553 the server does not want to send", OUTCOME_THROTTLE },
	{ OUTCOME_MAIL, "550 Message rejected", OUTCOME_THROTTLE },
	{ OUTCOME_DATA, "550 5.4.5 Daily user sending limit exceeded", OUTCOME_THROTTLE },
	{ OUTCOME_CONNECT, "421 4.7.0 Try again later, closing connection", OUTCOME_THROTTLE },
	{ OUTCOME_AUTH, "454 4.7.0 Too many login attempts, please try again later",
	  OUTCOME_THROTTLE },
	{ OUTCOME_DATA, "451 4.7.1 Rate limit exceeded", OUTCOME_THROTTLE },
	{ OUTCOME_RCPT, "450 4.7.1 Sending quota exceeded", OUTCOME_THROTTLE },
	/* the account cannot send */
	{ OUTCOME_AUTH, "535 5.7.8 Authentication credentials invalid", OUTCOME_DISABLE },
	{ OUTCOME_AUTH, "534 5.7.9 Application-specific password required", OUTCOME_DISABLE },
	{ OUTCOME_MAIL, "550 Message sending for this account is disabled", OUTCOME_DISABLE },
	/* the message */
	{ OUTCOME_DATA, "550 5.7.1 Spam message rejected. If this is not spam contact abuse",
	  OUTCOME_FAIL },
	{ OUTCOME_DATA, "552 5.3.4 Message size exceeds fixed limit", OUTCOME_FAIL },
	{ OUTCOME_MAIL, "552 5.3.4 Message size exceeds fixed maximum message size", OUTCOME_FAIL },
	/* plain code classes */
	{ OUTCOME_DATA, "451 4.3.0 Local error", OUTCOME_RETRY },
	{ OUTCOME_DATA, "554 5.6.0 Message content rejected", OUTCOME_FAIL },
	{ OUTCOME_CONNECT, "554 No SMTP service here", OUTCOME_RETRY },
	{ OUTCOME_EHLO, "502 5.5.2 Error: command not recognized", OUTCOME_RETRY },
	{ OUTCOME_DATA, "garbage", OUTCOME_RETRY },
};

int
main(void)
{
	struct outcome_rule r[2];
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum outcome_action got = outcome_classify(NULL, 0, cases[i].stage, cases[i].reply);

		CHECK(got == cases[i].want, "[%s] \"%s\": got %s, want %s",
		    outcome_stage_name(cases[i].stage), cases[i].reply, outcome_action_name(got),
		    outcome_action_name(cases[i].want));
	}

	/* Account rules come first and respect their stage. */
	CHECK(outcome_rule_compile(&r[0], "^550 5\\.1\\.1", "rcpt", "retry", err,
	    sizeof(err)) == 0, "compile: %s", err);
	CHECK(outcome_rule_compile(&r[1], "^250 ", "any", "throttle", err, sizeof(err)) == 0,
	    "compile: %s", err);
	CHECK(outcome_classify(r, 2, OUTCOME_RCPT, "550 5.1.1 unknown") == OUTCOME_RETRY,
	    "extra rule wins");
	CHECK(outcome_classify(r, 1, OUTCOME_DATA, "550 5.1.1 unknown") == OUTCOME_FAIL,
	    "extra rule only at its stage");
	outcome_rule_free(&r[0]);
	outcome_rule_free(&r[1]);

	/* Bad rules say what is wrong. */
	CHECK(outcome_rule_compile(&r[0], "(", "any", "throttle", err, sizeof(err)) == -1 &&
	    strstr(err, "regular expression") != NULL, "bad regex: %s", err);
	CHECK(outcome_rule_compile(&r[0], "x", "helo", "throttle", err, sizeof(err)) == -1 &&
	    strstr(err, "stage") != NULL, "bad stage: %s", err);
	CHECK(outcome_rule_compile(&r[0], "x", "any", "bounce", err, sizeof(err)) == -1 &&
	    strstr(err, "action") != NULL, "bad action: %s", err);
	T_DONE();
}
