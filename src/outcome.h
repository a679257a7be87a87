/*
 * outcome: the one place that decides what a provider's reply means (Postfix keeps
 * this in smtp_trouble.c). Every reply the upstream session gets, at every stage, is
 * classified here from one rule table; nothing else interprets reply codes.
 */
#ifndef RELAYD_OUTCOME_H
#define RELAYD_OUTCOME_H

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

/* outcome_init: compile the built-in rules. Returns 0, or -1 (a bug) after logging. */
int		 outcome_init(void);

/*
 * outcome_classify: what reply (the whole reply as "553 5.7.1 text", lines of a
 * multi-line reply joined by spaces) at stage means. First matching rule wins.
 */
enum outcome_action outcome_classify(enum outcome_stage, const char *reply);

const char	*outcome_stage_name(enum outcome_stage);
const char	*outcome_action_name(enum outcome_action);

#endif
