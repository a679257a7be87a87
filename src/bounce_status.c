/*
 * bounce_status: what the words of a bounce say. Finds SMTP reply codes and RFC 3463
 * enhanced status codes in free text, picks the most telling one, guesses a status
 * for a failure that gave none, and judges a failed recipient hard (the address is
 * gone) or soft (anything else) from its status and diagnostic, by one phrase table.
 * bounce_parse uses it on DSN fields and on text notices. Pure: no I/O.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "bounce_parse.h"
#include "bounce_status.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * What the remote's words say about the address, most specific first: the first
 * phrase (lower case, a substring) of this table found in the diagnostic decides.
 * Sender-side trouble comes first (a 5.1.8 "domain of sender does not exist" is not
 * the recipient's), then causes that are not the address's fault even when a
 * "user unknown" style phrase also appears (full, spam, rate), then "address gone",
 * and nothing else: words like "blocked" or "policy" need no rule, soft is what is left
 * when neither a phrase nor the status says the address is gone. Mail.ru and Yandex write Russian.
 */
static const struct bp_rule {
	const char		*phrase;
	enum bounce_kind	 kind;
} bp_rules[] = {
	/* The sender or its host is refused, not the recipient. */
	{ "sender address", BOUNCE_SOFT }, { "domain of sender", BOUNCE_SOFT },
	{ "after mail from", BOUNCE_SOFT }, { "to mail from command", BOUNCE_SOFT },
	{ "sender domain", BOUNCE_SOFT }, { "sender rejected", BOUNCE_SOFT },
	{ "unknown sender", BOUNCE_SOFT },
	/* Amazon SES's label for any refusal: what follows it decides. */
	{ "unknown address error", BOUNCE_SOFT },
	/* Directory lookups that say "not listed" (Domino), Office 365's directory
	 * edge blocking: the address is gone. */
	{ "recipient address rejected: access denied", BOUNCE_HARD },
	{ "not listed in", BOUNCE_HARD }, { "not listed on", BOUNCE_HARD },
	/* Full, too big, throttled, spam, reputation, authentication, DNS trouble. */
	{ "mailbox full", BOUNCE_SOFT }, { "mailbox is full", BOUNCE_SOFT },
	{ "mailbox has exceeded", BOUNCE_SOFT }, { "over quota", BOUNCE_SOFT },
	{ "overquota", BOUNCE_SOFT }, { "quota exceeded", BOUNCE_SOFT },
	{ "exceeded quota", BOUNCE_SOFT }, { "exceeds quota", BOUNCE_SOFT },
	{ "quota exceed", BOUNCE_SOFT }, { "storage limit", BOUNCE_SOFT },
	{ "insufficient storage", BOUNCE_SOFT }, { "out of storage", BOUNCE_SOFT },
	{ "mailfolder is full", BOUNCE_SOFT }, { "mail box full", BOUNCE_SOFT },
	{ "переполнен", BOUNCE_SOFT }, { "size limit", BOUNCE_SOFT },
	{ "too large", BOUNCE_SOFT }, { "too big", BOUNCE_SOFT },
	{ "exceeds the maximum", BOUNCE_SOFT }, { "message size", BOUNCE_SOFT },
	{ "at a rate", BOUNCE_SOFT }, { "rate limit", BOUNCE_SOFT },
	{ "ratelimit", BOUNCE_SOFT }, { "too many", BOUNCE_SOFT },
	{ "throttl", BOUNCE_SOFT }, { "spam", BOUNCE_SOFT }, { "blacklist", BOUNCE_SOFT },
	{ "blocklist", BOUNCE_SOFT }, { "block list", BOUNCE_SOFT },
	{ "listed in", BOUNCE_SOFT }, { "listed at", BOUNCE_SOFT },
	{ "reputation", BOUNCE_SOFT }, { "dmarc", BOUNCE_SOFT }, { "spf", BOUNCE_SOFT },
	{ "dkim", BOUNCE_SOFT }, { "unauthenticated", BOUNCE_SOFT },
	{ "authentication", BOUNCE_SOFT }, { "virus", BOUNCE_SOFT },
	{ "malware", BOUNCE_SOFT }, { "recipient preferences", BOUNCE_SOFT },
	{ "relay access", BOUNCE_SOFT }, { "relaying denied", BOUNCE_SOFT },
	{ "relay not permitted", BOUNCE_SOFT }, { "not permitted to relay", BOUNCE_SOFT },
	{ "host not found, try again", BOUNCE_SOFT },
	{ "malformed or unexpected name server reply", BOUNCE_SOFT },
	{ "greylist", BOUNCE_SOFT }, { "reverse dns", BOUNCE_SOFT },
	{ "ptr record", BOUNCE_SOFT },
	/* The address is gone: no such user, no such domain, moved. */
	{ "user unknown", BOUNCE_HARD }, { "unknown user", BOUNCE_HARD },
	{ "no such user", BOUNCE_HARD }, { "user not found", BOUNCE_HARD },
	{ "user doesn't exist", BOUNCE_HARD }, { "user does not exist", BOUNCE_HARD },
	{ "unknown recipient", BOUNCE_HARD }, { "recipient unknown", BOUNCE_HARD },
	{ "recipient not found", BOUNCE_HARD }, { "recipientnotfound", BOUNCE_HARD },
	{ "no such recipient", BOUNCE_HARD }, { "invalid recipient", BOUNCE_HARD },
	{ "recipient is invalid", BOUNCE_HARD }, { "no such mailbox", BOUNCE_HARD },
	{ "mailbox not found", BOUNCE_HARD }, { "mailbox does not exist", BOUNCE_HARD },
	{ "mailbox doesn't exist", BOUNCE_HARD }, { "mailbox unavailable", BOUNCE_HARD },
	{ "mailbox is unavailable", BOUNCE_HARD }, { "mailbox not available", BOUNCE_HARD },
	{ "invalid mailbox", BOUNCE_HARD }, { "unknown mailbox", BOUNCE_HARD },
	{ "no mailbox", BOUNCE_HARD }, { "not a valid mailbox", BOUNCE_HARD },
	{ "address does not exist", BOUNCE_HARD }, { "address doesn't exist", BOUNCE_HARD },
	{ "account does not exist", BOUNCE_HARD }, { "account doesn't exist", BOUNCE_HARD },
	{ "does not exist", BOUNCE_HARD }, { "doesn't exist", BOUNCE_HARD },
	{ "doesn't have a", BOUNCE_HARD }, { "does not have a", BOUNCE_HARD },
	{ "couldn't be found", BOUNCE_HARD }, { "could not be found", BOUNCE_HARD },
	{ "unknown address", BOUNCE_HARD }, { "address unknown", BOUNCE_HARD },
	{ "addressee unknown", BOUNCE_HARD }, { "no such address", BOUNCE_HARD },
	{ "bad address", BOUNCE_HARD }, { "invalid address", BOUNCE_HARD },
	{ "unrouteable address", BOUNCE_HARD }, { "not our customer", BOUNCE_HARD },
	{ "is not a valid user", BOUNCE_HARD }, { "not a known user", BOUNCE_HARD },
	{ "user invalid", BOUNCE_HARD }, { "unknown local part", BOUNCE_HARD },
	{ "unknown or illegal alias", BOUNCE_HARD }, { "no such person", BOUNCE_HARD },
	{ "name is not recognized", BOUNCE_HARD }, { "delivery userid", BOUNCE_HARD },
	{ "no such domain", BOUNCE_HARD }, { "host not found", BOUNCE_HARD },
	{ "domain not found", BOUNCE_HARD }, { "host unknown", BOUNCE_HARD },
	{ "unknown host", BOUNCE_HARD }, { "host or domain name not found", BOUNCE_HARD },
	{ "name or service not known", BOUNCE_HARD }, { "domain does not exist", BOUNCE_HARD },
	{ "unknown domain", BOUNCE_HARD }, { "domain name not found", BOUNCE_HARD },
	{ "domain is not reachable", BOUNCE_HARD }, { "no mx record", BOUNCE_HARD },
	{ "no mx found", BOUNCE_HARD }, { "no smtp service", BOUNCE_HARD },
	{ "does not accept mail", BOUNCE_HARD },
	{ "not accepting network messages", BOUNCE_HARD }, { "null mx", BOUNCE_HARD },
	{ "has moved", BOUNCE_HARD }, { "resolver.adr", BOUNCE_HARD },
	{ "nosuchuser", BOUNCE_HARD }, { "undeliverable address", BOUNCE_HARD },
	{ "нет такого", BOUNCE_HARD }, { "не существует", BOUNCE_HARD },
	{ "не найден", BOUNCE_HARD },
};

/* Enhanced status codes (class.subject) whose 5.x.x form means "address gone". */
static const char *const bp_hard_status[] = {
	"5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10", "5.2.1", "5.3.2", "5.4.4",
};

/* Text-to-status guesses for notices that give a reply but no enhanced code. */
static const struct bp_guess {
	const char	*phrase;
	const char	*status;
} bp_guesses[] = {
	{ "mailbox full", "5.2.2" }, { "mailbox is full", "5.2.2" },
	{ "over quota", "5.2.2" }, { "quota exceeded", "5.2.2" },
	{ "exceeds quota", "5.2.2" }, { "insufficient storage", "5.2.2" },
	{ "too large", "5.3.4" }, { "too big", "5.3.4" },
	{ "user unknown", "5.1.1" }, { "unknown user", "5.1.1" },
	{ "no such user", "5.1.1" }, { "user not found", "5.1.1" },
	{ "no mailbox", "5.1.1" }, { "no such mailbox", "5.1.1" },
	{ "does not exist", "5.1.1" }, { "unknown recipient", "5.1.1" },
	{ "recipient unknown", "5.1.1" }, { "invalid recipient", "5.1.1" },
	{ "mailbox unavailable", "5.1.1" }, { "invalid mailbox", "5.1.1" },
	{ "no such domain", "5.1.2" }, { "host not found", "5.1.2" },
	{ "host or domain name not found", "5.1.2" }, { "unknown host", "5.1.2" },
	{ "domain not found", "5.1.2" }, { "host unknown", "5.1.2" },
	{ "unrouteable address", "5.1.2" },
	/* Exim gave up after retrying: it says so with the last temporary error. */
	{ "retry timeout exceeded", "4.4.7" }, { "failing for a long time", "4.4.7" },
	{ "timeout", "5.4.7" }, { "timed out", "5.4.7" }, { "expired", "5.4.7" },
	{ "too long", "5.4.7" },
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

enum bounce_kind
bounce_status_kind(const char *status, const char *diagnostic)
{
	if (status != NULL && status[0] == '2')
		return BOUNCE_KIND_NONE;
	if (status != NULL && status[0] == '4')
		return BOUNCE_SOFT;
	/* X.1.7, X.1.8: the sender's address is refused, not the recipient's. */
	if (status != NULL && (strcmp(status, "5.1.7") == 0 || strcmp(status, "5.1.8") == 0))
		return BOUNCE_SOFT;
	int hardstatus = 0;
	if (status != NULL)
		for (size_t i = 0; i < nitems(bp_hard_status); i++)
			if (strcmp(status, bp_hard_status[i]) == 0)
				hardstatus = 1;
	if (diagnostic != NULL)
		for (size_t i = 0; i < nitems(bp_rules); i++)
			if (strcasestr(diagnostic, bp_rules[i].phrase) != NULL)
				return bp_rules[i].kind;
	/* Otherwise (blocked, policy, disabled...) only the status can say "gone". */
	return hardstatus ? BOUNCE_HARD : BOUNCE_SOFT;
}

/*
 * bounce_status_guess: an enhanced status for a failure that gave none, from its words;
 * the class is the reply code's, else 4 for a delay, else the table's.
 */
void
bounce_status_guess(const char *diag, int reply, int temporary, char *out)
{
	for (size_t i = 0; i < nitems(bp_guesses); i++)
		if (strcasestr(diag, bp_guesses[i].phrase) != NULL) {
			snprintf(out, BOUNCE_STATUS_MAX, "%s", bp_guesses[i].status);
			if (reply >= 400 && reply < 500)
				out[0] = '4';
			else if (reply >= 500)
				out[0] = '5';
			else if (temporary)
				out[0] = '4';
			return;
		}
	if (reply >= 400 && reply < 500)
		temporary = 1;
	else if (reply >= 500)
		temporary = 0;
	snprintf(out, BOUNCE_STATUS_MAX, "%s", temporary ? "4.0.0" : "5.0.0");
}
