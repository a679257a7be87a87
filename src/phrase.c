/*
 * phrase: the vocabulary table (see phrase.h). Each row says what some words mean
 * and where they are read: B in bounce notices only, BR in notices and in provider
 * replies, RP in replies only, W a weak phrase of notices (read only when the status
 * code says nothing more; with the status a notice without one gets, if not the
 * reason's).
 *
 * For notices the order matters, the first phrase found decides, so the most
 * specific come first: sender-side trouble (a 5.1.8 "domain of sender does not
 * exist" is not the recipient's), then causes that are not the address's fault even
 * when a "user unknown" style phrase also appears (full, spam, rate), then "address
 * gone". In replies outcome.c's rules decide the order: the phrases of one meaning
 * are one alternative of a rule. Mail.ru and Yandex write Russian.
 */
#include <stdlib.h>
#include <string.h>

#include "phrase.h"
#include "xmalloc.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static const struct phrase phrase_table[] = {
#define B(p, m)		{ p, PHRASE_##m, PHRASE_BOUNCE, NULL }
#define BR(p, m)	{ p, PHRASE_##m, PHRASE_BOUNCE | PHRASE_REPLY, NULL }
#define RP(p, m)	{ p, PHRASE_##m, PHRASE_REPLY, NULL }
#define W(p, m, st)	{ p, PHRASE_##m, PHRASE_BOUNCE | PHRASE_WEAK, st }
	/* The sender or its host is refused, not the recipient. */
	B("sender address", SENDER_REJECTED), B("domain of sender", SENDER_REJECTED),
	B("after mail from", SENDER_REJECTED), B("to mail from command", SENDER_REJECTED),
	B("sender domain", SENDER_REJECTED), B("sender rejected", SENDER_REJECTED),
	B("unknown sender", SENDER_REJECTED),
	/* In a provider's reply: the login does not own the sender address. */
	RP("sender address rejected", SENDER_REJECTED), RP("not owned by", SENDER_REJECTED),
	/* Amazon SES's label for any refusal it relays: not the address's fault. */
	B("unknown address error", POLICY),
	/* Directory lookups that say "not listed" (Domino), Office 365's directory
	 * edge blocking: the address is gone. */
	B("recipient address rejected: access denied", USER_UNKNOWN),
	B("not listed in", USER_UNKNOWN), B("not listed on", USER_UNKNOWN),
	/* Full, too big, throttled, spam, reputation, authentication, DNS trouble. */
	BR("mailbox full", MAILBOX_FULL), BR("mailbox is full", MAILBOX_FULL),
	B("mailbox has exceeded", MAILBOX_FULL), BR("over quota", MAILBOX_FULL),
	B("overquota", MAILBOX_FULL), B("quota exceeded", MAILBOX_FULL),
	B("exceeded quota", MAILBOX_FULL), B("exceeds quota", MAILBOX_FULL),
	B("quota exceed", MAILBOX_FULL), B("storage limit", MAILBOX_FULL),
	B("insufficient storage", MAILBOX_FULL), B("out of storage", MAILBOX_FULL),
	B("mailfolder is full", MAILBOX_FULL), B("mail box full", MAILBOX_FULL),
	B("mailbox size limit", MAILBOX_FULL), B("переполнен", MAILBOX_FULL),
	B("size limit", TOO_LARGE), B("too large", TOO_LARGE), B("too big", TOO_LARGE),
	B("exceeds the maximum", TOO_LARGE), BR("message size", TOO_LARGE),
	RP("message too big", TOO_LARGE), RP("message too large", TOO_LARGE),
	B("at a rate", RATE_LIMITED), B("rate limit", RATE_LIMITED),
	BR("ratelimit", RATE_LIMITED), BR("too many", RATE_LIMITED),
	B("throttl", RATE_LIMITED),
	/* In a reply these say the account is held back (outcome adds the word "rate"). */
	RP("limit", RATE_LIMITED), RP("quota", RATE_LIMITED),
	RP("try again later", RATE_LIMITED), RP("try it later", RATE_LIMITED),
	RP("try later", RATE_LIMITED),
	BR("spam", SPAM_OR_CONTENT), B("virus", SPAM_OR_CONTENT),
	B("malware", SPAM_OR_CONTENT), B("content rejected", SPAM_OR_CONTENT),
	B("blacklist", POLICY), B("blocklist", POLICY), B("block list", POLICY),
	B("listed in", POLICY), B("listed at", POLICY), B("reputation", POLICY),
	B("dmarc", POLICY), B("spf", POLICY), B("dkim", POLICY),
	B("unauthenticated", POLICY), B("authentication", POLICY),
	B("recipient preferences", POLICY), B("greylist", POLICY),
	B("reverse dns", POLICY), B("ptr record", POLICY),
	B("relay access", RELAY_DENIED), B("relaying denied", RELAY_DENIED),
	B("relay not permitted", RELAY_DENIED), B("not permitted to relay", RELAY_DENIED),
	B("relaying not allowed", RELAY_DENIED), B("unable to relay", RELAY_DENIED),
	B("host not found, try again", NETWORK_ERROR),
	B("malformed or unexpected name server reply", NETWORK_ERROR),
	/* The mailbox exists but takes no mail. */
	BR("account is disabled", MAILBOX_DISABLED),
	B("account has been disabled", MAILBOX_DISABLED),
	BR("account disabled", MAILBOX_DISABLED), B("mailbox disabled", MAILBOX_DISABLED),
	B("mailbox is disabled", MAILBOX_DISABLED),
	B("account is inactive", MAILBOX_DISABLED),
	B("account has been suspended", MAILBOX_DISABLED),
	BR("account is suspended", MAILBOX_DISABLED),
	RP("account blocked", MAILBOX_DISABLED), RP("account is blocked", MAILBOX_DISABLED),
	RP("account suspended", MAILBOX_DISABLED),
	/* The address is gone: no such user, no such domain, moved. */
	BR("user unknown", USER_UNKNOWN), BR("unknown user", USER_UNKNOWN),
	BR("no such user", USER_UNKNOWN), B("user not found", USER_UNKNOWN),
	B("user doesn't exist", USER_UNKNOWN), B("user does not exist", USER_UNKNOWN),
	B("unknown recipient", USER_UNKNOWN), B("recipient unknown", USER_UNKNOWN),
	B("recipient not found", USER_UNKNOWN), B("recipientnotfound", USER_UNKNOWN),
	B("no such recipient", USER_UNKNOWN), BR("invalid recipient", USER_UNKNOWN),
	B("recipient is invalid", USER_UNKNOWN), BR("no such mailbox", USER_UNKNOWN),
	B("mailbox not found", USER_UNKNOWN), B("mailbox does not exist", USER_UNKNOWN),
	B("mailbox doesn't exist", USER_UNKNOWN), BR("mailbox unavailable", USER_UNKNOWN),
	B("mailbox is unavailable", USER_UNKNOWN), B("mailbox not available", USER_UNKNOWN),
	BR("invalid mailbox", USER_UNKNOWN), B("unknown mailbox", USER_UNKNOWN),
	B("no mailbox", USER_UNKNOWN), B("not a valid mailbox", USER_UNKNOWN),
	B("no such domain", HOST_UNKNOWN), B("domain does not exist", HOST_UNKNOWN),
	B("domain doesn't exist", HOST_UNKNOWN),
	B("address does not exist", USER_UNKNOWN), B("address doesn't exist", USER_UNKNOWN),
	B("account does not exist", USER_UNKNOWN), B("account doesn't exist", USER_UNKNOWN),
	BR("does not exist", USER_UNKNOWN), B("doesn't exist", USER_UNKNOWN),
	B("doesn't have a", USER_UNKNOWN), B("does not have a", USER_UNKNOWN),
	B("couldn't be found", USER_UNKNOWN), B("could not be found", USER_UNKNOWN),
	B("unknown address", USER_UNKNOWN), B("address unknown", USER_UNKNOWN),
	B("addressee unknown", USER_UNKNOWN), B("no such address", USER_UNKNOWN),
	B("bad address", USER_UNKNOWN), B("invalid address", USER_UNKNOWN),
	B("unrouteable address", HOST_UNKNOWN), B("not our customer", USER_UNKNOWN),
	B("is not a valid user", USER_UNKNOWN), B("not a known user", USER_UNKNOWN),
	B("user invalid", USER_UNKNOWN), B("unknown local part", USER_UNKNOWN),
	B("unknown or illegal alias", USER_UNKNOWN), B("no such person", USER_UNKNOWN),
	RP("recipient rejected", USER_UNKNOWN),
	B("name is not recognized", USER_UNKNOWN), B("delivery userid", USER_UNKNOWN),
	B("host not found", HOST_UNKNOWN), B("domain not found", HOST_UNKNOWN),
	B("host unknown", HOST_UNKNOWN), B("unknown host", HOST_UNKNOWN),
	B("host or domain name not found", HOST_UNKNOWN),
	B("name or service not known", HOST_UNKNOWN), B("unknown domain", HOST_UNKNOWN),
	B("domain name not found", HOST_UNKNOWN), B("domain is not reachable", HOST_UNKNOWN),
	B("no mx record", HOST_UNKNOWN), B("no mx found", HOST_UNKNOWN),
	B("no smtp service", NOT_ACCEPT), B("does not accept mail", NOT_ACCEPT),
	B("not accepting network messages", NOT_ACCEPT), B("null mx", NOT_ACCEPT),
	B("has moved", HAS_MOVED), B("resolver.adr", USER_UNKNOWN),
	B("nosuchuser", USER_UNKNOWN), B("undeliverable address", USER_UNKNOWN),
	B("нет такого", USER_UNKNOWN), B("не существует", USER_UNKNOWN),
	B("не найден", USER_UNKNOWN),
	/* The MTA gave up retrying (said with the last temporary error, if any). */
	B("message expired", EXPIRED), B("in the queue too long", EXPIRED),
	B("could not deliver for the last", EXPIRED),
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
#undef B
#undef BR
#undef RP
#undef W
};

const struct phrase *
phrase_find(const char *s, unsigned want, unsigned avoid)
{
	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < nitems(phrase_table); i++)
		if ((phrase_table[i].flags & want) == want &&
		    (phrase_table[i].flags & avoid) == 0 &&
		    strcasestr(s, phrase_table[i].text) != NULL)
			return &phrase_table[i];
	return NULL;
}

char *
phrase_alternation(enum phrase_meaning m, unsigned flag)
{
	size_t len = 1, n = 0;
	char *out, *p;

	for (size_t i = 0; i < nitems(phrase_table); i++)
		if (phrase_table[i].meaning == m && (phrase_table[i].flags & flag) == flag)
			len += 2 * strlen(phrase_table[i].text) + 1;
	out = p = xmalloc(len);
	for (size_t i = 0; i < nitems(phrase_table); i++) {
		if (phrase_table[i].meaning != m || (phrase_table[i].flags & flag) != flag)
			continue;
		if (n++ > 0)
			*p++ = '|';
		for (const char *t = phrase_table[i].text; *t != '\0'; t++) {
			if (strchr("\\.[]()*+?{}|^$", *t) != NULL)
				*p++ = '\\';
			*p++ = *t;
		}
	}
	*p = '\0';
	return out;
}
