/*
 * outcome: the one place that decides what a provider's reply means (Postfix keeps
 * this in smtp_trouble.c). Every reply the upstream session gets, at every stage, is
 * classified here from one rule table; nothing else interprets reply codes.
 */
#ifndef RELAYD_OUTCOME_H
#define RELAYD_OUTCOME_H

#include <regex.h>
#include <stddef.h>

enum outcome_stage {
	OUTCOME_CONNECT,	/* greeting, and connection-level trouble */
	OUTCOME_EHLO,		/* EHLO and STARTTLS */
	OUTCOME_AUTH,
	OUTCOME_MAIL,
	OUTCOME_RCPT,
	OUTCOME_DATA,		/* DATA and the reply after the message */
	OUTCOME_NSTAGES
};

enum outcome_action {
	OUTCOME_SENT,		/* accepted */
	OUTCOME_RETRY,		/* this message (or recipient) later, on the retry schedule */
	OUTCOME_THROTTLE,	/* the account must slow down: suspend it, requeue untouched */
	OUTCOME_FAIL,		/* this recipient permanently */
	OUTCOME_DISABLE,	/* the account cannot send until its config changes */
};

/* An extra rule (an account's "rules", or its preset's), tried before the built-ins. */
struct outcome_rule {
	char			*match;		/* the regex text, for messages */
	regex_t			 re;
	unsigned		 stages;	/* bit (1 << stage) for each stage it applies to */
	enum outcome_action	 action;
};

/*
 * outcome_rule_compile: build r from its config strings (stage: a stage name or
 * "any"; action: an action name). Returns 0, or -1 with err (len bytes) saying what
 * is wrong with which string. On success free r with outcome_rule_free.
 */
int		 outcome_rule_compile(struct outcome_rule *r, const char *match,
		    const char *stage, const char *action, char *err, size_t len);
void		 outcome_rule_free(struct outcome_rule *);

/* outcome_init: compile the built-in rules. Returns 0, or -1 (a bug) after logging. */
int		 outcome_init(void);

/*
 * outcome_classify: what reply (the whole reply as "553 5.7.1 text", lines of a
 * multi-line reply joined by spaces) at stage means. The account's extra rules
 * (may be NULL) are tried first, then the built-ins; the first match wins.
 */
enum outcome_action outcome_classify(const struct outcome_rule *extra, size_t nextra,
		    enum outcome_stage, const char *reply);

const char	*outcome_stage_name(enum outcome_stage);
const char	*outcome_action_name(enum outcome_action);

#endif
