/*
 * bounce_status: what the codes and words of a bounce say. Finds SMTP reply codes and
 * RFC 3463 enhanced status codes in free text and picks the most telling one; gives a
 * failed recipient its reason from the taxonomy (bp_reasons: the one table that also
 * says which reasons suppress an address), from the phrases of phrase.c (shared with
 * outcome.c's reply rules) and the status's subject.detail; guesses a status for a
 * failure that gave none; and says whether a failure is permanent. bounce_parse uses
 * it on DSN fields and on text notices, bounce_store and relayctl for the reason
 * names. Pure: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "bounce_status.h"
#include "phrase.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * The taxonomy: one row per reason, its name (JSON, logs), whether a permanent failure
 * of that reason means the address is gone (hard: suppress it) and the RFC 3463
 * subject.detail a notice without a code gets for it. The one table that says which
 * reasons suppress an address.
 */
static const struct bp_reason {
	const char		*name;
	enum bounce_kind	 kind;
	const char		*detail;
} bp_reasons[] = {
	[BOUNCE_REASON_UNKNOWN] = { "unknown", BOUNCE_SOFT, "0.0" },
	[BOUNCE_REASON_USER_UNKNOWN] = { "user_unknown", BOUNCE_HARD, "1.1" },
	[BOUNCE_REASON_MAILBOX_DISABLED] = { "mailbox_disabled", BOUNCE_HARD, "2.1" },
	[BOUNCE_REASON_HAS_MOVED] = { "has_moved", BOUNCE_HARD, "1.6" },
	[BOUNCE_REASON_HOST_UNKNOWN] = { "host_unknown", BOUNCE_HARD, "1.2" },
	[BOUNCE_REASON_NOT_ACCEPT] = { "not_accept", BOUNCE_HARD, "3.2" },
	[BOUNCE_REASON_MAILBOX_FULL] = { "mailbox_full", BOUNCE_SOFT, "2.2" },
	[BOUNCE_REASON_TOO_LARGE] = { "too_large", BOUNCE_SOFT, "3.4" },
	[BOUNCE_REASON_SPAM_OR_CONTENT] = { "spam_or_content", BOUNCE_SOFT, "7.1" },
	[BOUNCE_REASON_POLICY] = { "policy", BOUNCE_SOFT, "7.1" },
	[BOUNCE_REASON_RATE_LIMITED] = { "rate_limited", BOUNCE_SOFT, "7.1" },
	[BOUNCE_REASON_RELAY_DENIED] = { "relay_denied", BOUNCE_SOFT, "7.1" },
	[BOUNCE_REASON_SENDER_REJECTED] = { "sender_rejected", BOUNCE_SOFT, "1.8" },
	[BOUNCE_REASON_EXPIRED] = { "expired", BOUNCE_SOFT, "4.7" },
	[BOUNCE_REASON_NETWORK_ERROR] = { "network_error", BOUNCE_SOFT, "4.1" },
	[BOUNCE_REASON_SYSTEM_ERROR] = { "system_error", BOUNCE_SOFT, "3.0" },
};
_Static_assert(sizeof(bp_reasons) / sizeof(bp_reasons[0]) == BOUNCE_REASON_NREASONS,
    "bp_reasons");

/*
 * What the remote's words say: the phrases of phrase.c read in notices (PHRASE_BOUNCE),
 * the first found deciding; weak ones (PHRASE_WEAK: "timed out", "expired") only
 * when the status says nothing more. Each meaning is the reason of the same name.
 */
static const enum bounce_reason bp_meanings[] = {
	[PHRASE_USER_UNKNOWN] = BOUNCE_REASON_USER_UNKNOWN,
	[PHRASE_MAILBOX_DISABLED] = BOUNCE_REASON_MAILBOX_DISABLED,
	[PHRASE_HAS_MOVED] = BOUNCE_REASON_HAS_MOVED,
	[PHRASE_HOST_UNKNOWN] = BOUNCE_REASON_HOST_UNKNOWN,
	[PHRASE_NOT_ACCEPT] = BOUNCE_REASON_NOT_ACCEPT,
	[PHRASE_MAILBOX_FULL] = BOUNCE_REASON_MAILBOX_FULL,
	[PHRASE_TOO_LARGE] = BOUNCE_REASON_TOO_LARGE,
	[PHRASE_SPAM_OR_CONTENT] = BOUNCE_REASON_SPAM_OR_CONTENT,
	[PHRASE_POLICY] = BOUNCE_REASON_POLICY,
	[PHRASE_RATE_LIMITED] = BOUNCE_REASON_RATE_LIMITED,
	[PHRASE_RELAY_DENIED] = BOUNCE_REASON_RELAY_DENIED,
	[PHRASE_SENDER_REJECTED] = BOUNCE_REASON_SENDER_REJECTED,
	[PHRASE_EXPIRED] = BOUNCE_REASON_EXPIRED,
	[PHRASE_NETWORK_ERROR] = BOUNCE_REASON_NETWORK_ERROR,
};

/*
 * What an enhanced status says when the words say nothing: "S.D" of "C.S.D" (or
 * "S." for a whole subject) to its reason. X.0.0 and what is not here say nothing.
 */
static const struct bp_status_reason {
	const char		*sd;
	enum bounce_reason	 reason;
} bp_status_reasons[] = {
	{ "1.0", BOUNCE_REASON_USER_UNKNOWN }, { "1.1", BOUNCE_REASON_USER_UNKNOWN },
	{ "1.3", BOUNCE_REASON_USER_UNKNOWN }, { "1.10", BOUNCE_REASON_USER_UNKNOWN },
	{ "1.2", BOUNCE_REASON_HOST_UNKNOWN }, { "1.6", BOUNCE_REASON_HAS_MOVED },
	{ "1.7", BOUNCE_REASON_SENDER_REJECTED }, { "1.8", BOUNCE_REASON_SENDER_REJECTED },
	{ "2.1", BOUNCE_REASON_MAILBOX_DISABLED }, { "2.2", BOUNCE_REASON_MAILBOX_FULL },
	{ "2.3", BOUNCE_REASON_TOO_LARGE }, { "2.4", BOUNCE_REASON_SYSTEM_ERROR },
	{ "3.2", BOUNCE_REASON_NOT_ACCEPT }, { "3.4", BOUNCE_REASON_TOO_LARGE },
	{ "3.", BOUNCE_REASON_SYSTEM_ERROR },
	{ "4.4", BOUNCE_REASON_HOST_UNKNOWN }, { "4.7", BOUNCE_REASON_EXPIRED },
	{ "4.6", BOUNCE_REASON_SYSTEM_ERROR }, { "4.", BOUNCE_REASON_NETWORK_ERROR },
	{ "5.", BOUNCE_REASON_SYSTEM_ERROR }, { "6.", BOUNCE_REASON_SPAM_OR_CONTENT },
	{ "7.", BOUNCE_REASON_POLICY },
};

/* SMTP reply codes we accept as such inside free text. */
static const int bp_reply_codes[] = {
	421, 450, 451, 452, 454, 455, 500, 501, 502, 503, 504, 521, 523, 530, 534,
	535, 550, 551, 552, 553, 554, 555, 556, 571,
};

/*
 * bounce_status_code: find an RFC 3463 code "C.S.D" (C in 2,4,5; S 1-3 digits, D 1-3)
 * at or after s that is not part of a longer dotted number. Copies it into
 * out[BOUNCE_STATUS_MAX] and returns where it starts, or NULL.
 */
const char *
bounce_status_code(const char *s, const char *end, int class2, char *out)
{
	for (const char *p = s; p + 5 <= end; p++) {
		if (!(*p == '4' || *p == '5' || (class2 && *p == '2')))
			continue;
		if (p > s && (isdigit((unsigned char)p[-1]) || p[-1] == '.'))
			continue;
		if (p[1] != '.')
			continue;
		const char *q = p + 2;
		size_t n = 0;
		while (q < end && isdigit((unsigned char)*q) && n < 4)
			q++, n++;
		if (n < 1 || n > 3 || q >= end || *q != '.')
			continue;
		q++;
		n = 0;
		while (q < end && isdigit((unsigned char)*q) && n < 4)
			q++, n++;
		if (n < 1 || n > 3)
			continue;
		if (q < end && (isdigit((unsigned char)*q) ||
		    (*q == '.' && q + 1 < end && isdigit((unsigned char)q[1]))))
			continue;
		if ((size_t)(q - p) >= BOUNCE_STATUS_MAX)
			continue;
		memcpy(out, p, q - p);
		out[q - p] = '\0';
		return p;
	}
	return NULL;
}

/* bounce_status_reply: the first plausible SMTP reply code in s[0..end), or 0. */
int
bounce_status_reply(const char *s, const char *end, const char **where)
{
	for (const char *p = s; p + 3 <= end; p++) {
		if (!(p[0] == '4' || p[0] == '5') || !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]))
			continue;
		if (p > s && !(p[-1] == ' ' || p[-1] == '\t' || p[-1] == '(' ||
		    p[-1] == ':' || p[-1] == '<' || p[-1] == '#' || p[-1] == '"' ||
		    p[-1] == '[' || p[-1] == '='))
			continue;
		if (p + 3 < end && !(p[3] == ' ' || p[3] == '-' || p[3] == ')' ||
		    p[3] == '\t' || p[3] == '"' || p[3] == ']' || p[3] == ','))
			continue;
		int code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		for (size_t i = 0; i < nitems(bp_reply_codes); i++)
			if (bp_reply_codes[i] == code) {
				if (where != NULL)
					*where = p;
				return code;
			}
	}
	return 0;
}

/*
 * bounce_status_best: the most telling status code in s[0..end): one that follows an
 * SMTP reply code ("550 5.1.1", "550-'5.7.1") beats one alone. Copies it into
 * out[BOUNCE_STATUS_MAX] ("" if none), sets *reply to the reply code seen (0 if none)
 * and returns 3 (paired), 2 (status code alone), 1 (reply code alone) or 0.
 */
int
bounce_status_best(const char *s, const char *end, char *out, int *reply)
{
	char	 code[BOUNCE_STATUS_MAX];
	const char *w = NULL, *p, *first = NULL;
	int	 rp = bounce_status_reply(s, end, &w);

	out[0] = '\0';
	*reply = rp;
	for (p = s; (p = bounce_status_code(p, end, 0, code)) != NULL; p++) {
		if (first == NULL) {
			first = p;
			memcpy(out, code, sizeof(code));
		}
		/* The reply just before this code, if any. */
		const char *q = p;
		while (q > s && q > p - 4 && strchr(" -'\":#", q[-1]) != NULL)
			q--;
		if (q - s >= 3 && q < p) {
			const char *w2 = NULL;
			int rp2 = bounce_status_reply(q - 3, q, &w2);
			if (rp2 != 0 && w2 == q - 3 && rp2 / 100 == code[0] - '0') {
				memcpy(out, code, sizeof(code));
				*reply = rp2;
				return 3;
			}
		}
	}
	if (first != NULL)
		return 2;
	return rp != 0 ? 1 : 0;
}

const char *
bounce_status_reason_name(enum bounce_reason r)
{
	return (unsigned)r < nitems(bp_reasons) ? bp_reasons[r].name : "unknown";
}

enum bounce_reason
bounce_status_reason_by_name(const char *name)
{
	for (size_t i = 0; name != NULL && i < nitems(bp_reasons); i++)
		if (strcmp(name, bp_reasons[i].name) == 0)
			return (enum bounce_reason)i;
	return BOUNCE_REASON_UNKNOWN;
}

enum bounce_kind
bounce_status_reason_kind(enum bounce_reason r, int permanent)
{
	if (!permanent || (unsigned)r >= nitems(bp_reasons))
		return BOUNCE_SOFT;
	return bp_reasons[r].kind;
}

/* bounce_status_rule: the first phrase of notices (weak ones or not) in diag, or NULL. */
static const struct phrase *
bounce_status_rule(const char *diag, int weak)
{
	return weak ? phrase_find(diag, PHRASE_BOUNCE | PHRASE_WEAK, 0) :
	    phrase_find(diag, PHRASE_BOUNCE, PHRASE_WEAK);
}

/* bounce_status_by_code: the reason an enhanced status alone gives, or UNKNOWN. */
static enum bounce_reason
bounce_status_by_code(const char *status)
{
	if (status == NULL || status[0] == '\0' || status[1] != '.')
		return BOUNCE_REASON_UNKNOWN;
	const char *sd = status + 2;
	for (size_t i = 0; i < nitems(bp_status_reasons); i++) {
		const char *k = bp_status_reasons[i].sd;
		size_t n = strlen(k);
		if (k[n - 1] == '.' ? strncmp(sd, k, n) == 0 : strcmp(sd, k) == 0)
			return bp_status_reasons[i].reason;
	}
	return BOUNCE_REASON_UNKNOWN;
}

enum bounce_reason
bounce_status_reason(const char *status, const char *diagnostic)
{
	enum bounce_reason r = bounce_status_by_code(status);
	const struct phrase *rule;

	/* X.1.7, X.1.8: the sender's address is refused, whatever else is said. */
	if (r == BOUNCE_REASON_SENDER_REJECTED)
		return r;
	if ((rule = bounce_status_rule(diagnostic, 0)) != NULL)
		return bp_meanings[rule->meaning];
	if (r != BOUNCE_REASON_UNKNOWN)
		return r;
	if ((rule = bounce_status_rule(diagnostic, 1)) != NULL)
		return bp_meanings[rule->meaning];
	return BOUNCE_REASON_UNKNOWN;
}

enum bounce_kind
bounce_status_kind(const char *status, const char *diagnostic)
{
	if (status != NULL && status[0] == '2')
		return BOUNCE_KIND_NONE;
	return bounce_status_reason_kind(bounce_status_reason(status, diagnostic),
	    status == NULL || status[0] != '4');
}

int
bounce_status_permanent(const char *action, const char *status)
{
	if (action != NULL && strcmp(action, "delayed") == 0)
		return 0;
	if (status != NULL && status[0] != '\0')
		return status[0] == '5';
	return action != NULL && strcmp(action, "failed") == 0;
}

/*
 * bounce_status_guess: an enhanced status for a failure that gave none, from its
 * words: the reason's subject.detail (or the rule's own status); the class is the
 * reply code's, else 4 for a delay, else the rule's (5 when it has none).
 */
void
bounce_status_guess(const char *diag, int reply, int temporary, char *out)
{
	const struct phrase *rule = bounce_status_rule(diag, 0);

	if (rule == NULL)
		rule = bounce_status_rule(diag, 1);
	if (reply >= 400 && reply < 500)
		temporary = 1;
	else if (reply >= 500)
		temporary = 0;
	if (rule == NULL) {
		snprintf(out, BOUNCE_STATUS_MAX, "%s", temporary ? "4.0.0" : "5.0.0");
		return;
	}
	if (rule->status != NULL)
		snprintf(out, BOUNCE_STATUS_MAX, "%s", rule->status);
	else
		snprintf(out, BOUNCE_STATUS_MAX, "5.%s",
		    bp_reasons[bp_meanings[rule->meaning]].detail);
	if (reply != 0 || temporary)
		out[0] = temporary ? '4' : '5';
}
