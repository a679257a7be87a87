/*
 * outcome: the rule table for upstream replies, and the normalised form of a reply
 * (outcome_reply_line) that the rules are matched against.
 *
 * The free providers answer "slow down" with codes that elsewhere mean a bad address
 * (Mail.ru 553 at MAIL after ~180 messages, Yandex 550, Gmail 550 5.4.5; see
 * PROVIDERS.md), so the order of the rules matters: what clearly concerns one
 * recipient comes first, then what concerns the account, then the code classes.
 * Because relayd always sends as the account's own address, a 5xx at MAIL is not
 * about a bad sender: it is the account being held back, so it throttles, unless the
 * provider says the login does not own that address (a configuration error that
 * waiting never cures: disable). The same refusal for every recipient at RCPT is the
 * account's too (outcome_all_refused).
 */
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "jsonstr.h"
#include "outcome.h"
#include "phrase.h"
#include "xmalloc.h"

/* Texts that name a problem of the recipient, not of the account or the message. */
#define OUTCOME_RCPT_TEXT	"(%s)"		/* the phrases of PHRASE_USER_UNKNOWN */

#define ST(s)		(1u << (s))
#define ST_ANY		(~0u)
#define ST_SESSION	(ST(OUTCOME_CONNECT) | ST(OUTCOME_EHLO))

/*
 * A built-in rule. The words of a reply come from phrase.c, the vocabulary shared with
 * the bounce parser: "%s" in match stands for the reply phrases (PHRASE_REPLY) of
 * meaning words, as "a|b|c".
 */
struct outcome_builtin {
	const char		*match;		/* POSIX extended regex, case-insensitive */
	unsigned		 stages;
	enum outcome_action	 action;
	enum phrase_meaning	 words;		/* what "%s" in match stands for */
};

static const struct outcome_builtin outcome_rules[] = {
	{ "^[23]", ST_ANY, OUTCOME_SENT, 0 },
	/* About one recipient. */
	{ "^5[0-9][0-9] 5\\.(1\\.[0-9]|2\\.1)", ST(OUTCOME_RCPT), OUTCOME_FAIL, 0 },
	{ "^5[0-9][0-9] .*" OUTCOME_RCPT_TEXT, ST(OUTCOME_RCPT), OUTCOME_FAIL,
	  PHRASE_USER_UNKNOWN },
	{ "^5[0-9][0-9] 5\\.2\\.2|%s", ST(OUTCOME_RCPT) | ST(OUTCOME_DATA), OUTCOME_RETRY,
	  PHRASE_MAILBOX_FULL },
	/* About the message itself. */
	{ "^5[0-9][0-9] 5\\.(3\\.4|2\\.3)|%s", ST(OUTCOME_MAIL) | ST(OUTCOME_DATA),
	  OUTCOME_FAIL, PHRASE_TOO_LARGE },
	{ "^452 4\\.5\\.3|too many recipients", ST(OUTCOME_RCPT), OUTCOME_RETRY, 0 },
	{ "^5[0-9][0-9] .*(%s)", ST(OUTCOME_MAIL) | ST(OUTCOME_DATA), OUTCOME_FAIL,
	  PHRASE_SPAM_OR_CONTENT },
	/*
	 * About the account. A sender the provider says the login does not own is a
	 * configuration error (address and username do not belong together), not a
	 * limit: waiting would never help.
	 */
	{ "^5[0-9][0-9] .*(%s)", ST_ANY, OUTCOME_DISABLE, PHRASE_SENDER_REJECTED },
	{ "^53[458]( |$)", ST_ANY, OUTCOME_DISABLE, 0 },
	{ "^5[0-9][0-9] .*(%s)", ST_ANY, OUTCOME_DISABLE, PHRASE_MAILBOX_DISABLED },
	{ "^(421|450|451|452|454) 4\\.7\\.", ST_ANY, OUTCOME_THROTTLE, 0 },
	{ "^550 5\\.4\\.5", ST_ANY, OUTCOME_THROTTLE, 0 },
	{ "^[45][0-9][0-9] .*(%s|[^[:alpha:]]rate[^[:alpha:]])", ST_ANY, OUTCOME_THROTTLE,
	  PHRASE_RATE_LIMITED },
	{ "^5[0-9][0-9]", ST(OUTCOME_MAIL), OUTCOME_THROTTLE, 0 },
	/* Code classes. */
	{ "^4", ST_ANY, OUTCOME_RETRY, 0 },
	{ "^5", ST_SESSION | ST(OUTCOME_AUTH), OUTCOME_RETRY, 0 },
	{ "^5", ST(OUTCOME_RCPT) | ST(OUTCOME_DATA), OUTCOME_FAIL, 0 },
};

#define OUTCOME_NRULES	(sizeof(outcome_rules) / sizeof(outcome_rules[0]))

static regex_t outcome_re[OUTCOME_NRULES];	/* outcome_rules[i].match, compiled */
static regex_t outcome_rcpt_re;			/* OUTCOME_RCPT_TEXT */
static int outcome_ready;

void
outcome_reply_init(struct outcome_reply *r)
{
	r->code = 0;
	r->enh[0] = '\0';
	r->text[0] = '\0';
	r->len = 0;
	r->nlines = 0;
	r->octets = 0;
}

/*
 * outcome_enh: the length of the enhanced status code (RFC 3463: class.subject.detail,
 * 1-3 digits each) at p, followed by a blank or the end, or 0 if there is none.
 */
static size_t
outcome_enh(const char *p, size_t n)
{
	size_t i = 0;

	if (n < 5 || (p[0] != '2' && p[0] != '4' && p[0] != '5') || p[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t d = 0;

		while (i < n && p[i] >= '0' && p[i] <= '9' && d < 3)
			i++, d++;
		if (d == 0)
			return 0;
		if (part == 0) {
			if (i >= n || p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && p[i] != ' ' && p[i] != '\t')
		return 0;
	return i;
}

/* outcome_reply_add: append text (n octets) to the normalised form, cleaned. */
static void
outcome_reply_add(struct outcome_reply *r, const char *text, size_t n)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0;

	while (i < n) {
		size_t k = jsonstr_utf8_len(text + i, n - i);

		if (k == 1 && (p[i] == ' ' || p[i] == '\t')) {	/* a run of blanks: one space */
			while (i < n && (p[i] == ' ' || p[i] == '\t'))
				i++;
			if (i < n && r->len > 0 && r->text[r->len - 1] != ' ' &&
			    r->len + 1 < sizeof(r->text))
				r->text[r->len++] = ' ';
			continue;
		}
		if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			/* Not UTF-8, or a control: \xHH, as jsonstr shows it everywhere. */
			if (r->len + 4 >= sizeof(r->text))
				break;
			r->len += (size_t)snprintf(r->text + r->len, 5, "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (r->len + k >= sizeof(r->text))
			break;		/* full: cut at a character boundary */
		{
			memcpy(r->text + r->len, p + i, k);
			r->len += k;
			i += k;
		}
	}
	r->text[r->len] = '\0';
}

int
outcome_reply_line(struct outcome_reply *r, const char *line, size_t len)
{
	size_t e, skip;
	int code, last;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-'))
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return -1;	/* RFC 5321 4.2.1: every line has the same code */
	if (++r->nlines > OUTCOME_REPLY_LINES ||
	    (r->octets += len + 2) > OUTCOME_REPLY_OCTETS)
		return -1;
	last = len == 3 || line[3] == ' ';
	line += len > 3 ? 4 : 3;
	len -= len > 3 ? 4 : 3;
	while (len > 0 && (*line == ' ' || *line == '\t'))
		line++, len--;
	if (r->nlines == 1) {
		r->code = code;
		r->len = (size_t)snprintf(r->text, sizeof(r->text), "%03d", code);
		if ((e = outcome_enh(line, len)) > 0) {
			memcpy(r->enh, line, e);
			r->enh[e] = '\0';
			r->len += (size_t)snprintf(r->text + r->len, sizeof(r->text) - r->len,
			    " %s", r->enh);
			line += e;
			len -= e;
		}
	} else if (r->enh[0] != '\0' && (e = outcome_enh(line, len)) > 0 &&
	    e == strlen(r->enh) && memcmp(line, r->enh, e) == 0) {
		line += e;	/* the enhanced code again (Gmail repeats it) */
		len -= e;
	}
	for (skip = 0; skip < len && (line[skip] == ' ' || line[skip] == '\t'); skip++)
		;
	if (skip < len) {
		if (r->len + 1 < sizeof(r->text))
			r->text[r->len++] = ' ';
		outcome_reply_add(r, line + skip, len - skip);
		while (r->len > 0 && r->text[r->len - 1] == ' ')	/* trailing blanks */
			r->text[--r->len] = '\0';
	}
	return last;
}

/*
 * outcome_pattern: match with its "%s" (if any) replaced by the reply phrases of
 * words, in a new string.
 */
static char *
outcome_pattern(const char *match, enum phrase_meaning words)
{
	const char *at = strstr(match, "%s");
	char *alt, *p;

	if (at == NULL)
		return xstrdup(match);
	alt = phrase_alternation(words, PHRASE_REPLY);
	p = xasprintf("%.*s%s%s", (int)(at - match), match, alt, at + 2);
	free(alt);
	return p;
}

int
outcome_init(void)
{
	char err[256], *pat;
	int r;

	for (size_t i = 0; i < OUTCOME_NRULES; i++) {
		pat = outcome_pattern(outcome_rules[i].match, outcome_rules[i].words);
		r = regcomp(&outcome_re[i], pat, REG_EXTENDED | REG_ICASE | REG_NOSUB);
		if (r != 0) {
			regerror(r, &outcome_re[i], err, sizeof(err));
			log_err("outcome: rule %zu \"%s\": %s", i, pat, err);
			free(pat);
			return -1;
		}
		free(pat);
	}
	pat = outcome_pattern(OUTCOME_RCPT_TEXT, PHRASE_USER_UNKNOWN);
	r = regcomp(&outcome_rcpt_re, pat, REG_EXTENDED | REG_ICASE | REG_NOSUB);
	free(pat);
	if (r != 0) {
		log_err("outcome: the recipient text rule does not compile");
		return -1;
	}
	outcome_ready = 1;
	return 0;
}

static const char *outcome_action_names[] = {
	[OUTCOME_SENT] = "sent", [OUTCOME_RETRY] = "retry", [OUTCOME_THROTTLE] = "throttle",
	[OUTCOME_FAIL] = "fail", [OUTCOME_DISABLE] = "disable",
};
#define OUTCOME_NACTIONS	(sizeof(outcome_action_names) / sizeof(*outcome_action_names))

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
	for (i = 0; i < (int)OUTCOME_NACTIONS; i++)
		if (strcmp(action, outcome_action_names[i]) == 0)
			break;
	if (i == (int)OUTCOME_NACTIONS) {
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

/* outcome_code_enh: the length of "NNN" or "NNN X.Y.Z" at the start of a normalised reply. */
static size_t
outcome_code_enh(const char *reply)
{
	size_t n = strlen(reply), e;

	if (n < 3)
		return n;
	if (n > 4 && reply[3] == ' ' && (e = outcome_enh(reply + 4, n - 4)) > 0)
		return 4 + e;
	return 3;
}

/* outcome_names_recipient: does reply say the problem is the recipient's? */
static int
outcome_names_recipient(const char *reply)
{
	if (outcome_code_enh(reply) > 3) {
		char *end;
		long subject = strtol(reply + 6, &end, 10), detail = strtol(end + 1, NULL, 10);

		/* x.1.x: addressing; x.2.1: mailbox disabled; x.2.2: mailbox full */
		if (subject == 1 || (subject == 2 && (detail == 1 || detail == 2)))
			return 1;
	}
	return regexec(&outcome_rcpt_re, reply, 0, NULL, 0) == 0;
}

int
outcome_all_refused(const char *const *replies, const enum outcome_action *acts, size_t n)
{
	size_t k;

	if (n == 0 || (!outcome_ready && outcome_init() == -1))
		return 0;
	k = outcome_code_enh(replies[0]);
	for (size_t i = 0; i < n; i++) {
		if (acts[i] != OUTCOME_FAIL || replies[i][0] != '5' ||
		    outcome_code_enh(replies[i]) != k || strncmp(replies[i], replies[0], k) != 0 ||
		    outcome_names_recipient(replies[i]))
			return 0;
	}
	return 1;
}

int
outcome_is_guess(enum outcome_stage stage, const char *reply)
{
	return (stage == OUTCOME_RCPT || stage == OUTCOME_DATA) && outcome_code_enh(reply) <= 3;
}

int
outcome_guess_bound(int *guesses, double *since, int throttled, int guess, double now,
    int backoff_initial, int backoff_max)
{
	double span = 0, step = backoff_initial;

	if (!throttled) {
		*guesses = 0;
		return 0;
	}
	if (!guess)
		return 0;
	if ((*guesses)++ == 0)
		*since = now;
	for (int k = 0; k < OUTCOME_GUESS_MAX - 1; k++, step *= 2)
		span += step < backoff_max ? step : backoff_max;
	if (*guesses < OUTCOME_GUESS_MAX || now - *since < 0.9 * span)
		return 0;
	*guesses = 0;
	return 1;
}

const char *
outcome_stage_name(enum outcome_stage s)
{
	static const char *const names[] = {
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
	return (size_t)a < OUTCOME_NACTIONS ? outcome_action_names[a] : "?";
}
