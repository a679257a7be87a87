/*
 * bounce_status: what the codes and words of a bounce say. Finds SMTP reply codes and
 * RFC 3463 enhanced status codes in free text and picks the most telling one; gives a
 * failed recipient its reason from the taxonomy (bp_reasons: the one table that also
 * says which reasons suppress an address), from one phrase table and the status's
 * subject.detail; guesses a status for a failure that gave none; and says whether a
 * failure is permanent. bounce_parse uses it on DSN fields and on text notices,
 * bounce_store and relayctl for the reason names. Pure: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "bounce_status.h"

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
 * What the remote's words say, most specific first: the first phrase (lower case, a
 * substring) of this table found in the diagnostic gives the reason. Sender-side
 * trouble comes first (a 5.1.8 "domain of sender does not exist" is not the
 * recipient's), then causes that are not the address's fault even when a "user
 * unknown" style phrase also appears (full, spam, rate), then "address gone". Rows
 * marked weak ("timed out", "expired") say less than an enhanced status code and are
 * read only when the status says nothing more. A row's status, when set, is the one a
 * notice without a code gets (else the reason's). Mail.ru and Yandex write Russian.
 */
static const struct bp_rule {
	const char		*phrase;
	enum bounce_reason	 reason;
	int			 weak;
	const char		*status;
} bp_rules[] = {
#define R(p, r)		{ p, BOUNCE_REASON_##r, 0, NULL }
#define W(p, r, st)	{ p, BOUNCE_REASON_##r, 1, st }
	/* The sender or its host is refused, not the recipient. */
	R("sender address", SENDER_REJECTED), R("domain of sender", SENDER_REJECTED),
	R("after mail from", SENDER_REJECTED), R("to mail from command", SENDER_REJECTED),
	R("sender domain", SENDER_REJECTED), R("sender rejected", SENDER_REJECTED),
	R("unknown sender", SENDER_REJECTED),
	/* Amazon SES's label for any refusal it relays: not the address's fault. */
	R("unknown address error", POLICY),
	/* Directory lookups that say "not listed" (Domino), Office 365's directory
	 * edge blocking: the address is gone. */
	R("recipient address rejected: access denied", USER_UNKNOWN),
	R("not listed in", USER_UNKNOWN), R("not listed on", USER_UNKNOWN),
	/* Full, too big, throttled, spam, reputation, authentication, DNS trouble. */
	R("mailbox full", MAILBOX_FULL), R("mailbox is full", MAILBOX_FULL),
	R("mailbox has exceeded", MAILBOX_FULL), R("over quota", MAILBOX_FULL),
	R("overquota", MAILBOX_FULL), R("quota exceeded", MAILBOX_FULL),
	R("exceeded quota", MAILBOX_FULL), R("exceeds quota", MAILBOX_FULL),
	R("quota exceed", MAILBOX_FULL), R("storage limit", MAILBOX_FULL),
	R("insufficient storage", MAILBOX_FULL), R("out of storage", MAILBOX_FULL),
	R("mailfolder is full", MAILBOX_FULL), R("mail box full", MAILBOX_FULL),
	R("mailbox size limit", MAILBOX_FULL), R("переполнен", MAILBOX_FULL),
	R("size limit", TOO_LARGE), R("too large", TOO_LARGE), R("too big", TOO_LARGE),
	R("exceeds the maximum", TOO_LARGE), R("message size", TOO_LARGE),
	R("at a rate", RATE_LIMITED), R("rate limit", RATE_LIMITED),
	R("ratelimit", RATE_LIMITED), R("too many", RATE_LIMITED),
	R("throttl", RATE_LIMITED),
	R("spam", SPAM_OR_CONTENT), R("virus", SPAM_OR_CONTENT),
	R("malware", SPAM_OR_CONTENT), R("content rejected", SPAM_OR_CONTENT),
	R("blacklist", POLICY), R("blocklist", POLICY), R("block list", POLICY),
	R("listed in", POLICY), R("listed at", POLICY), R("reputation", POLICY),
	R("dmarc", POLICY), R("spf", POLICY), R("dkim", POLICY),
	R("unauthenticated", POLICY), R("authentication", POLICY),
	R("recipient preferences", POLICY), R("greylist", POLICY),
	R("reverse dns", POLICY), R("ptr record", POLICY),
	R("relay access", RELAY_DENIED), R("relaying denied", RELAY_DENIED),
	R("relay not permitted", RELAY_DENIED), R("not permitted to relay", RELAY_DENIED),
	R("relaying not allowed", RELAY_DENIED), R("unable to relay", RELAY_DENIED),
	R("host not found, try again", NETWORK_ERROR),
	R("malformed or unexpected name server reply", NETWORK_ERROR),
	/* The mailbox exists but takes no mail. */
	R("account is disabled", MAILBOX_DISABLED),
	R("account has been disabled", MAILBOX_DISABLED),
	R("account disabled", MAILBOX_DISABLED), R("mailbox disabled", MAILBOX_DISABLED),
	R("mailbox is disabled", MAILBOX_DISABLED),
	R("account is inactive", MAILBOX_DISABLED),
	R("account has been suspended", MAILBOX_DISABLED),
	R("account is suspended", MAILBOX_DISABLED),
	/* The address is gone: no such user, no such domain, moved. */
	R("user unknown", USER_UNKNOWN), R("unknown user", USER_UNKNOWN),
	R("no such user", USER_UNKNOWN), R("user not found", USER_UNKNOWN),
	R("user doesn't exist", USER_UNKNOWN), R("user does not exist", USER_UNKNOWN),
	R("unknown recipient", USER_UNKNOWN), R("recipient unknown", USER_UNKNOWN),
	R("recipient not found", USER_UNKNOWN), R("recipientnotfound", USER_UNKNOWN),
	R("no such recipient", USER_UNKNOWN), R("invalid recipient", USER_UNKNOWN),
	R("recipient is invalid", USER_UNKNOWN), R("no such mailbox", USER_UNKNOWN),
	R("mailbox not found", USER_UNKNOWN), R("mailbox does not exist", USER_UNKNOWN),
	R("mailbox doesn't exist", USER_UNKNOWN), R("mailbox unavailable", USER_UNKNOWN),
	R("mailbox is unavailable", USER_UNKNOWN), R("mailbox not available", USER_UNKNOWN),
	R("invalid mailbox", USER_UNKNOWN), R("unknown mailbox", USER_UNKNOWN),
	R("no mailbox", USER_UNKNOWN), R("not a valid mailbox", USER_UNKNOWN),
	R("no such domain", HOST_UNKNOWN), R("domain does not exist", HOST_UNKNOWN),
	R("domain doesn't exist", HOST_UNKNOWN),
	R("address does not exist", USER_UNKNOWN), R("address doesn't exist", USER_UNKNOWN),
	R("account does not exist", USER_UNKNOWN), R("account doesn't exist", USER_UNKNOWN),
	R("does not exist", USER_UNKNOWN), R("doesn't exist", USER_UNKNOWN),
	R("doesn't have a", USER_UNKNOWN), R("does not have a", USER_UNKNOWN),
	R("couldn't be found", USER_UNKNOWN), R("could not be found", USER_UNKNOWN),
	R("unknown address", USER_UNKNOWN), R("address unknown", USER_UNKNOWN),
	R("addressee unknown", USER_UNKNOWN), R("no such address", USER_UNKNOWN),
	R("bad address", USER_UNKNOWN), R("invalid address", USER_UNKNOWN),
	R("unrouteable address", HOST_UNKNOWN), R("not our customer", USER_UNKNOWN),
	R("is not a valid user", USER_UNKNOWN), R("not a known user", USER_UNKNOWN),
	R("user invalid", USER_UNKNOWN), R("unknown local part", USER_UNKNOWN),
	R("unknown or illegal alias", USER_UNKNOWN), R("no such person", USER_UNKNOWN),
	R("name is not recognized", USER_UNKNOWN), R("delivery userid", USER_UNKNOWN),
	R("host not found", HOST_UNKNOWN), R("domain not found", HOST_UNKNOWN),
	R("host unknown", HOST_UNKNOWN), R("unknown host", HOST_UNKNOWN),
	R("host or domain name not found", HOST_UNKNOWN),
	R("name or service not known", HOST_UNKNOWN), R("unknown domain", HOST_UNKNOWN),
	R("domain name not found", HOST_UNKNOWN), R("domain is not reachable", HOST_UNKNOWN),
	R("no mx record", HOST_UNKNOWN), R("no mx found", HOST_UNKNOWN),
	R("no smtp service", NOT_ACCEPT), R("does not accept mail", NOT_ACCEPT),
	R("not accepting network messages", NOT_ACCEPT), R("null mx", NOT_ACCEPT),
	R("has moved", HAS_MOVED), R("resolver.adr", USER_UNKNOWN),
	R("nosuchuser", USER_UNKNOWN), R("undeliverable address", USER_UNKNOWN),
	R("нет такого", USER_UNKNOWN), R("не существует", USER_UNKNOWN),
	R("не найден", USER_UNKNOWN),
	/* The MTA gave up retrying (said with the last temporary error, if any). */
	R("message expired", EXPIRED), R("in the queue too long", EXPIRED),
	R("could not deliver for the last", EXPIRED),
	W("giving up", EXPIRED, NULL),
	W("did not accept our requests to connect", NETWORK_ERROR, NULL),
	/* Refusals that name no cause but a rule: a policy, unless the status says more. */
	W("access denied", POLICY, NULL), W("blocked", POLICY, NULL),
	W("denied by policy", POLICY, NULL), W("policy reasons", POLICY, NULL),
	W("not allowed", POLICY, NULL), W("after initial connection", POLICY, NULL),
	/* Exim gave up after retrying: it says so with the last temporary error. */
	W("retry timeout exceeded", EXPIRED, "4.4.7"),
	W("failing for a long time", EXPIRED, "4.4.7"),
	W("connection refused", NETWORK_ERROR, "4.4.1"),
	W("timeout", EXPIRED, NULL), W("timed out", EXPIRED, NULL),
	W("expired", EXPIRED, NULL), W("too long", EXPIRED, NULL),
#undef R
#undef W
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

/* bounce_status_rule: the first rule of bp_rules (weak ones or not) in diag, or NULL. */
static const struct bp_rule *
bounce_status_rule(const char *diag, int weak)
{
	if (diag == NULL)
		return NULL;
	for (size_t i = 0; i < nitems(bp_rules); i++)
		if (bp_rules[i].weak == weak && strcasestr(diag, bp_rules[i].phrase) != NULL)
			return &bp_rules[i];
	return NULL;
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
	const struct bp_rule *rule;

	/* X.1.7, X.1.8: the sender's address is refused, whatever else is said. */
	if (r == BOUNCE_REASON_SENDER_REJECTED)
		return r;
	if ((rule = bounce_status_rule(diagnostic, 0)) != NULL)
		return rule->reason;
	if (r != BOUNCE_REASON_UNKNOWN)
		return r;
	if ((rule = bounce_status_rule(diagnostic, 1)) != NULL)
		return rule->reason;
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
	const struct bp_rule *rule = bounce_status_rule(diag, 0);

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
		snprintf(out, BOUNCE_STATUS_MAX, "5.%s", bp_reasons[rule->reason].detail);
	if (reply != 0 || temporary)
		out[0] = temporary ? '4' : '5';
}
