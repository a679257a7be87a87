/*
 * outcome: the rule table for upstream replies.
 *
 * The free providers answer "slow down" with codes that elsewhere mean a bad address
 * (Mail.ru 553 at MAIL after ~180 messages, Yandex 550, Gmail 550 5.4.5; see
 * PROVIDERS.md), so the order of the rules matters: what clearly concerns one
 * recipient comes first, then what concerns the account, then the code classes.
 * Because relayd always sends as the account's own address, a 5xx at MAIL cannot be
 * about a bad sender: it is the account being held back, so it throttles.
 */
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outcome.h"
#include "xmalloc.h"

#define ST(s)		(1u << (s))
#define ST_ANY		(~0u)
#define ST_SESSION	(ST(OUTCOME_CONNECT) | ST(OUTCOME_EHLO))

struct outcome_builtin {
	const char		*match;		/* POSIX extended regex, case-insensitive */
	unsigned		 stages;
	enum outcome_action	 action;
};

static const struct outcome_builtin outcome_rules[] = {
	{ "^[23]", ST_ANY, OUTCOME_SENT },
	/* About one recipient. */
	{ "^5[0-9][0-9] 5\\.(1\\.[0-9]|2\\.1)", ST(OUTCOME_RCPT), OUTCOME_FAIL },
	{ "^5[0-9][0-9] .*(user unknown|unknown user|no such (user|mailbox)|does not exist|"
	  "invalid (recipient|mailbox)|mailbox unavailable|recipient rejected)",
	  ST(OUTCOME_RCPT), OUTCOME_FAIL },
	{ "^5[0-9][0-9] 5\\.2\\.2|mailbox (is )?full|over quota",
	  ST(OUTCOME_RCPT) | ST(OUTCOME_DATA), OUTCOME_RETRY },
	/* About the message itself. */
	{ "^5[0-9][0-9] 5\\.(3\\.4|2\\.3)|message (size|too (big|large))",
	  ST(OUTCOME_MAIL) | ST(OUTCOME_DATA), OUTCOME_FAIL },
	{ "^452 4\\.5\\.3|too many recipients", ST(OUTCOME_RCPT), OUTCOME_RETRY },
	{ "^5[0-9][0-9] .*spam", ST(OUTCOME_MAIL) | ST(OUTCOME_DATA), OUTCOME_FAIL },
	/* About the account. */
	{ "^53[458] ", ST_ANY, OUTCOME_DISABLE },
	{ "^5[0-9][0-9] .*(sending (for|from) this account is disabled|account (is )?"
	  "(disabled|blocked|suspended))", ST_ANY, OUTCOME_DISABLE },
	{ "^(421|450|451|452|454) 4\\.7\\.", ST_ANY, OUTCOME_THROTTLE },
	{ "^550 5\\.4\\.5", ST_ANY, OUTCOME_THROTTLE },
	{ "^[45][0-9][0-9] .*(limit|quota|[^[:alpha:]]rate[^[:alpha:]]|ratelimit|too many|"
	  "try (again |it )?later)", ST_ANY, OUTCOME_THROTTLE },
	{ "^5[0-9][0-9]", ST(OUTCOME_MAIL), OUTCOME_THROTTLE },
	/* Code classes. */
	{ "^4", ST_ANY, OUTCOME_RETRY },
	{ "^5", ST_SESSION | ST(OUTCOME_AUTH), OUTCOME_RETRY },
	{ "^5", ST(OUTCOME_RCPT) | ST(OUTCOME_DATA), OUTCOME_FAIL },
};

#define OUTCOME_NRULES	(sizeof(outcome_rules) / sizeof(outcome_rules[0]))

static regex_t outcome_re[OUTCOME_NRULES];	/* outcome_rules[i].match, compiled */
static int outcome_ready;

int
outcome_init(void)
{
	char err[256];

	for (size_t i = 0; i < OUTCOME_NRULES; i++) {
		int r = regcomp(&outcome_re[i], outcome_rules[i].match,
		    REG_EXTENDED | REG_ICASE | REG_NOSUB);

		if (r != 0) {
			regerror(r, &outcome_re[i], err, sizeof(err));
			log_err("outcome: rule %zu \"%s\": %s", i, outcome_rules[i].match, err);
			return -1;
		}
	}
	outcome_ready = 1;
	return 0;
}

static const char *outcome_action_names[] = {
	[OUTCOME_SENT] = "sent", [OUTCOME_RETRY] = "retry", [OUTCOME_THROTTLE] = "throttle",
	[OUTCOME_FAIL] = "fail", [OUTCOME_DISABLE] = "disable",
};

int
outcome_rule_compile(struct outcome_rule *r, const char *match, const char *stage,
    const char *action, char *err, size_t len)
{
	int e, i;

	memset(r, 0, sizeof(*r));
	if (stage == NULL || strcmp(stage, "any") == 0)
		r->stages = ST_ANY;
	else {
		for (i = 0; i < OUTCOME_NSTAGES; i++)
			if (strcmp(stage, outcome_stage_name(i)) == 0)
				r->stages = ST(i);
		if (r->stages == 0) {
			snprintf(err, len, "stage \"%s\" is not one of any, connect, ehlo, auth, "
			    "mail, rcpt, data", stage);
			return -1;
		}
	}
	for (i = 0; i < (int)(sizeof(outcome_action_names) / sizeof(*outcome_action_names)); i++)
		if (strcmp(action, outcome_action_names[i]) == 0)
			break;
	if (i == (int)(sizeof(outcome_action_names) / sizeof(*outcome_action_names))) {
		snprintf(err, len, "action \"%s\" is not one of sent, retry, throttle, fail, "
		    "disable", action);
		return -1;
	}
	r->action = (enum outcome_action)i;
	if ((e = regcomp(&r->re, match, REG_EXTENDED | REG_ICASE | REG_NOSUB)) != 0) {
		char msg[128];

		regerror(e, &r->re, msg, sizeof(msg));
		snprintf(err, len, "match \"%s\" is not a valid regular expression: %s", match,
		    msg);
		return -1;
	}
	r->match = xstrdup(match);
	return 0;
}

void
outcome_rule_free(struct outcome_rule *r)
{
	if (r->match == NULL)
		return;
	regfree(&r->re);
	free(r->match);
	r->match = NULL;
}

enum outcome_action
outcome_classify(const struct outcome_rule *extra, size_t nextra, enum outcome_stage stage,
    const char *reply)
{
	if (!outcome_ready && outcome_init() == -1)
		return OUTCOME_RETRY;
	for (size_t i = 0; i < nextra; i++)
		if ((extra[i].stages & ST(stage)) &&
		    regexec(&extra[i].re, reply, 0, NULL, 0) == 0)
			return extra[i].action;
	for (size_t i = 0; i < OUTCOME_NRULES; i++)
		if ((outcome_rules[i].stages & ST(stage)) &&
		    regexec(&outcome_re[i], reply, 0, NULL, 0) == 0)
			return outcome_rules[i].action;
	/* Not a reply at all (garbage): try again later. */
	return OUTCOME_RETRY;
}

const char *
outcome_stage_name(enum outcome_stage s)
{
	static const char *names[OUTCOME_NSTAGES] = {
		[OUTCOME_CONNECT] = "connect", [OUTCOME_EHLO] = "ehlo",
		[OUTCOME_AUTH] = "auth", [OUTCOME_MAIL] = "mail",
		[OUTCOME_RCPT] = "rcpt", [OUTCOME_DATA] = "data",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == OUTCOME_NSTAGES, "stage names");

	return s < OUTCOME_NSTAGES ? names[s] : "?";
}

const char *
outcome_action_name(enum outcome_action a)
{
	return a <= OUTCOME_DISABLE ? outcome_action_names[a] : "?";
}
