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
 * The normalised form of a reply, which every rule is matched against and every log
 * line shows: the code, a space and the enhanced status code (RFC 3463) if the first
 * line has one, then the text of every line, each without its code (and without the
 * enhanced code when it repeats the first line's), joined by single spaces; runs of
 * blanks become one space. So Gmail's
 *	550-5.4.5 Daily user sending limit exceeded. For more information on Gmail
 *	550-5.4.5 sending limits go to
 *	550 5.4.5  https://support.google.com/mail/?p=ReachedLimit
 * becomes "550 5.4.5 Daily user sending limit exceeded. For more information on Gmail
 * sending limits go to https://support.google.com/mail/?p=ReachedLimit", and a rule
 * written for a one-line reply ("^550 5\\.4\\.5") matches it. Bytes that are not
 * UTF-8 (Russian providers answer in CP1251 or KOI8-R) and control characters become
 * the four characters \xHH, as jsonstr shows foreign octets everywhere, so the form
 * is always printable UTF-8 (logs, spool records, JSON) and says what the octets were.
 */
#define OUTCOME_REPLY_MAX	2048	/* octets of the normalised form kept (with NUL) */
#define OUTCOME_REPLY_LINES	100	/* lines one reply may have */
#define OUTCOME_REPLY_OCTETS	(64 * 1024)	/* raw octets one reply may have */

struct outcome_reply {
	int	 code;			/* 0 until the first line is in */
	char	 enh[12];		/* the first line's enhanced code, or "" */
	char	 text[OUTCOME_REPLY_MAX]; /* the normalised form */
	size_t	 len;			/* of text */
	size_t	 nlines;
	size_t	 octets;		/* raw octets seen */
};

/* outcome_reply_init: an empty reply, ready for its first line. */
void		 outcome_reply_init(struct outcome_reply *);

/*
 * outcome_reply_line: add one line of a reply (without its CRLF; need not be NUL-
 * terminated). Returns 1 when it was the last line (r->text is complete), 0 when more
 * lines follow, -1 when the line is not a reply line (no code, a code other than the
 * first line's, neither ' ' nor '-' after the code) or the reply has more than
 * OUTCOME_REPLY_LINES lines or OUTCOME_REPLY_OCTETS octets: a protocol error.
 */
int		 outcome_reply_line(struct outcome_reply *, const char *line, size_t len);

/*
 * outcome_classify: what reply (the normalised form above) at stage means. The
 * account's extra rules (may be NULL) are tried first, then the built-ins; the first
 * match wins.
 */
enum outcome_action outcome_classify(const struct outcome_rule *extra, size_t nextra,
		    enum outcome_stage, const char *reply);

/*
 * A refusal that hits every recipient of a transaction the same way is about the
 * account, not the recipients (Yandex answers its limit with a bare 550 at RCPT):
 * outcome_all_refused says whether n RCPT refusals (normalised replies, and what
 * outcome_classify made of each) are such a one: every one FAIL, all with the same
 * code and enhanced code, and none naming a recipient problem (enhanced code x.1.x,
 * x.2.1 or x.2.2, or a text such as "user unknown"). Returns 1 if so (the caller
 * throttles the account instead of failing them), else 0.
 */
int		 outcome_all_refused(const char *const *replies,
		    const enum outcome_action *acts, size_t n);

/*
 * outcome_is_guess: is a THROTTLE for reply at stage a guess, because the reply could
 * as well be about the message or its recipients? So is one at RCPT or DATA whose
 * reply has no enhanced status code (a bare "550"). A message refused in guessed
 * throttles (these, and outcome_all_refused) OUTCOME_GUESS_MAX attempts in a row
 * (over the span outcome_guess_bound says) has its recipients failed instead, so
 * that a refusal which is really about the message cannot hold the account back
 * forever. The bound is high on purpose: a real block is far more common than an
 * ambiguous refusal of a message, and failing recipients for a throttle is what
 * this model is there to prevent. Yandex blocks for 24 hours (and
 * extends the block when tried); with the default backoff (300 s doubling to 3600 s)
 * 30 attempts span more than 26 hours.
 */
#define OUTCOME_GUESS_MAX	30
int		 outcome_is_guess(enum outcome_stage, const char *reply);

/*
 * outcome_guess_bound: the bound above, for one message. A transaction of it ended
 * at now (clock_steady): throttled says whether any recipient was throttled, guess
 * whether that throttle was a guess; *guesses and *since are the message's guessed
 * throttles in a row and when the first of them was; backoff_initial and _max the
 * backoff of the account that refused it. Returns 1 when its throttled recipients
 * are to fail instead (the count then starts over): OUTCOME_GUESS_MAX guesses in a
 * row, spanning at least what OUTCOME_GUESS_MAX - 1 steps of that backoff take (less
 * their jitter). The span matters when several accounts refuse the message in turn,
 * all of them at their limits as late in a long mailing: counting alone, two
 * accounts reached the bound in half the time one account's backoff gives the
 * provider (a yandex-preset account blocked for 24 hours failed a recipient after
 * 20 hours, tests/unit/test_sim.c). A throttle that is no guess leaves the count.
 */
int		 outcome_guess_bound(int *guesses, double *since, int throttled, int guess,
		    double now, int backoff_initial, int backoff_max);

const char	*outcome_stage_name(enum outcome_stage);
const char	*outcome_action_name(enum outcome_action);

#endif
