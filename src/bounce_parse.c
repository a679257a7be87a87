/*
 * bounce_parse: tell a bounce from what is not one and say which recipients failed,
 * with which RFC 3463 status, permanent or not, why, hard or soft, and which original
 * Message-ID it quotes. The orchestrator, in phases (bounce_parse below):
 *  1. collect: bounce_mime walks the MIME tree; the notice's text is cut into lines
 *     where the quoted original starts (bounce_text); the original's senders and the
 *     account the notice came to are noted as not recipients;
 *  2. screen: the RFC 3464 fields are read (bounce_dsn); feedback reports (RFC 5965),
 *     list-server and challenge-response replies and auto-replies (RFC 3834) stop
 *     here, as does a message with no sign of a bounce;
 *  3. recipients: when the report named none, X-Failed-Recipients, the MTA's format
 *     (bounce_text's table), the notice's addresses minus the sender's, and last the
 *     original's To;
 *  4. details: each recipient's reply, status and diagnostic from the paragraph that
 *     names it, and from bounce_status its permanence, reason and kind; Action:
 *     delayed or a "will retry" text is a delay, not a failure;
 *  5. finish: recipients only for failures, delays and delivered reports; the quoted
 *     Message-ID.
 * imap_watch feeds it messages fetched from the account's mailbox; relayctl
 * bounce-parse feeds it saved files. Pure: no I/O, no logging.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "bounce_dsn.h"
#include "bounce_mime.h"
#include "bounce_parse.h"
#include "bounce_status.h"
#include "bounce_text.h"
#include "xmalloc.h"

#define BP_RCPT_MAX	128	/* recipients kept per report */
#define BP_DIAG_MAX	600	/* bytes of diagnostic text kept */
#define BP_DIAG_LINES	6	/* lines of a text bounce joined into a diagnostic */

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* What the parse of one message knows. */
struct bp_ctx {
	struct bounce_mime mime;	/* what the MIME walk gathered */
	char		*orig_msgid;	/* the original's Message-ID, no <> */
	char		**notrcpt;	/* lower-cased addresses that are not recipients */
	size_t		 nnotrcpt;
	char		**origto;	/* the original's To/Cc addresses */
	size_t		 norigto;
	struct bounce_text_notice notice; /* the notice's text, in lines */
};

static const char *const bp_type_names[] = {
	[BOUNCE_NONE] = "none",
	[BOUNCE_FAILURE] = "failure",
	[BOUNCE_DELAY] = "delay",
	[BOUNCE_DELIVERED] = "delivered",
	[BOUNCE_AUTOREPLY] = "autoreply",
	[BOUNCE_FEEDBACK] = "feedback",
};
_Static_assert(sizeof(bp_type_names) / sizeof(bp_type_names[0]) == BOUNCE_FEEDBACK + 1,
    "bp_type_names");

static const char *const bp_kind_names[] = {
	[BOUNCE_KIND_NONE] = "none",
	[BOUNCE_HARD] = "hard",
	[BOUNCE_SOFT] = "soft",
};
_Static_assert(sizeof(bp_kind_names) / sizeof(bp_kind_names[0]) == BOUNCE_SOFT + 1,
    "bp_kind_names");

/* Local parts that are never a failed recipient (the reporting side's roles). */
static const char *const bp_role_locals[] = {
	"postmaster", "mailer-daemon", "mailer_daemon", "maildaemon", "abuse",
	"hostmaster", "webmaster", "noreply", "no-reply", "double-bounce",
};

/* Subject words of delivery failure notices (lower case). */
static const char *const bp_bounce_subjects[] = {
	"undeliver", "undelivered", "delivery status", "delivery failure",
	"delivery failed", "delivery notification", "failure notice", "mail failure",
	"returned mail", "return mail", "could not be delivered", "non-delivery",
	"nondelivery", "not delivered", "delivery problem", "mail delivery",
	"unzustellbar", "nicht zustellbar", "non remis", "delayed mail",
	"warning: could not send", "rejected", "delivery has failed",
	"не доставлено", "не может быть доставлено", "mail system error",
	"returned to sender", "delivery report",
};

/* Phrases of the notice text that only bounces say (lower case). */
static const char *const bp_bounce_phrases[] = {
	"could not be delivered", "couldn't be delivered", "permanent error",
	"delivery has failed", "undeliverable", "following address(es) failed",
	"wasn't able to deliver", "permanent fatal errors", "delivery to the following",
	"delivery failed", "failed to deliver", "unable to deliver", "not be delivered",
	"message was not delivered", "returned to sender", "mail delivery failed",
	"could not deliver", "was undeliverable", "delivery attempts",
	"permanent failure", "user unknown", "the mail system", "rcpt to:",
	"error message below", "no such user", "invalid user",
};

/* Phrases of a text notice that says delivery is only delayed (lower case). */
static const char *const bp_delay_phrases[] = {
	"has been delayed", "warning message only", "will be retried",
	"will continue to try", "will keep trying", "still trying",
	"not yet been delivered", "delivery is delayed", "still being retried",
	"delivery has been delayed", "no need to resend", "not need to resend",
	"will retry", "will try again", "attempts will continue", "still undelivered",
};

/* Subject words of auto-replies (lower case, matched at the start). */
static const char *const bp_auto_subjects[] = {
	"auto:", "automatic reply", "auto reply", "auto-reply", "autoreply",
	"out of office", "out of the office", "vacation", "away", "abwesenheit",
	"automatische antwort", "réponse automatique", "autosvar", "absence",
	"автоответ", "auto response", "autoresponse",
	/* Outlook's "Automatic reply:" in other languages. */
	"respuesta automática", "risposta automatica", "resposta automática",
	"automatisch antwoord", "automatisk svar", "automaattinen vastaus",
	"automatyczna odpowiedź",
};

static int bp_initialised;

void
bounce_parse_init(void)
{
	if (!bp_initialised) {
		g_mime_init();
		bp_initialised = 1;
	}
}

const char *
bounce_parse_type_name(enum bounce_type t)
{
	return (unsigned)t < nitems(bp_type_names) ? bp_type_names[t] : "none";
}

const char *
bounce_parse_kind_name(enum bounce_kind k)
{
	return (unsigned)k < nitems(bp_kind_names) ? bp_kind_names[k] : "none";
}

/* bounce_parse_lcase: lower-case ASCII letters of s in place. */
static void
bounce_parse_lcase(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* bounce_parse_has_any: does s (any case) contain one of the lower-case phrases? */
static int
bounce_parse_has_any(const char *s, const char *const *phrases, size_t n)
{
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcasestr(s, phrases[i]) != NULL)
			return 1;
	return 0;
}

/* bounce_parse_squeeze: a copy of s[0..len) on one line, runs of space made one. */
static char *
bounce_parse_squeeze(const char *s, size_t len, size_t max)
{
	char	*out = xmalloc(len + 1);
	size_t	 o = 0;
	int	 sp = 0;

	for (size_t i = 0; i < len && s[i] != '\0' && o < max; i++) {
		unsigned char ch = s[i];
		if (isspace(ch) || ch < 0x20) {
			sp = o > 0;
			continue;
		}
		if (sp)
			out[o++] = ' ';
		sp = 0;
		if (o < max)
			out[o++] = ch;
	}
	out[o] = '\0';
	return out;
}

enum bounce_kind
bounce_parse_kind(const char *status, const char *diagnostic)
{
	return bounce_status_kind(status, diagnostic);
}

/* bounce_parse_notrcpt_add: remember that addr (any form) is not a failed recipient. */
static void
bounce_parse_notrcpt_add(struct bp_ctx *c, const char *addr)
{
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	const char *at, *after;

	if (addr == NULL || bounce_text_addr(addr, addr + strlen(addr), a, &at,
	    &after) == -1)
		return;
	bounce_parse_lcase(a);
	for (size_t i = 0; i < c->nnotrcpt; i++)
		if (strcmp(c->notrcpt[i], a) == 0)
			return;
	c->notrcpt = xreallocarray(c->notrcpt, c->nnotrcpt + 1, sizeof(char *));
	c->notrcpt[c->nnotrcpt++] = xstrdup(a);
}

/* bounce_parse_origto_add: remember the addresses of an original's To: value. */
static void
bounce_parse_origto_add(struct bp_ctx *c, const char *v)
{
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	const char *at, *after, *end = v + strlen(v);

	while (c->norigto < BP_RCPT_MAX && bounce_text_addr(v, end, a, &at, &after) == 0) {
		c->origto = xreallocarray(c->origto, c->norigto + 1, sizeof(char *));
		c->origto[c->norigto++] = xstrdup(a);
		v = after;
	}
}

/* bounce_parse_is_notrcpt: is addr the sender's or a reporting role's address? */
static int
bounce_parse_is_notrcpt(struct bp_ctx *c, const char *addr)
{
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	const char *at;

	snprintf(a, sizeof(a), "%s", addr);
	bounce_parse_lcase(a);
	for (size_t i = 0; i < c->nnotrcpt; i++)
		if (strcmp(c->notrcpt[i], a) == 0)
			return 1;
	if ((at = strchr(a, '@')) == NULL)
		return 1;
	for (size_t i = 0; i < nitems(bp_role_locals); i++)
		if (strlen(bp_role_locals[i]) == (size_t)(at - a) &&
		    strncmp(a, bp_role_locals[i], at - a) == 0)
			return 1;
	return 0;
}

/*
 * bounce_parse_headers_scan: read a header block s[0..len) (as quoted in a text bounce
 * or a text/rfc822-headers part) up to its first blank line: the Message-ID goes to
 * *msgid if still NULL, the From/Return-Path/Sender addresses are not recipients.
 */
static void
bounce_parse_headers_scan(struct bp_ctx *c, const char *s, size_t len, char **msgid)
{
	const char *p = s, *end = s + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', end - p);
		size_t n = (eol ? eol : end) - p;
		if (n == 0 || (n == 1 && p[0] == '\r'))
			break;
		/* Unfold: the value runs on over lines that start with white space. */
		const char *vend = eol ? eol : end;
		while (vend < end && vend + 1 < end && (vend[1] == ' ' || vend[1] == '\t')) {
			const char *e2 = memchr(vend + 1, '\n', end - vend - 1);
			vend = e2 ? e2 : end;
		}
		if (n > 11 && strncasecmp(p, "message-id:", 11) == 0) {
			if (*msgid == NULL)
				*msgid = bounce_mime_msgid(p + 11, vend - p - 11);
		} else if (n > 3 && strncasecmp(p, "to:", 3) == 0) {
			char *v = xstrndup(p + 3, vend - p - 3);
			bounce_parse_origto_add(c, v);
			free(v);
		} else if ((n > 5 && strncasecmp(p, "from:", 5) == 0) ||
		    (n > 12 && strncasecmp(p, "return-path:", 12) == 0) ||
		    (n > 7 && strncasecmp(p, "sender:", 7) == 0)) {
			char *v = xstrndup(p, vend - p);
			bounce_parse_notrcpt_add(c, strchr(v, ':') + 1);
			free(v);
		}
		p = vend < end ? vend + 1 : end;
	}
}

/* bounce_parse_rcpt_free: free the strings of one recipient. */
static void
bounce_parse_rcpt_free(struct bounce_rcpt *rc)
{
	free(rc->recipient);
	free(rc->action);
	free(rc->diagnostic);
	free(rc->original_recipient);
	free(rc->final_recipient);
}

/* bounce_parse_rcpt_add: add a recipient (if new) and return it. */
static struct bounce_rcpt *
bounce_parse_rcpt_add(struct bounce_report *r, const char *addr)
{
	for (size_t i = 0; i < r->nrcpts; i++)
		if (strcasecmp(r->rcpts[i].recipient, addr) == 0)
			return &r->rcpts[i];
	if (r->nrcpts >= BP_RCPT_MAX)
		return NULL;
	r->rcpts = xreallocarray(r->rcpts, r->nrcpts + 1, sizeof(*r->rcpts));
	struct bounce_rcpt *rc = &r->rcpts[r->nrcpts++];
	memset(rc, 0, sizeof(*rc));
	rc->recipient = xstrdup(addr);
	rc->action = xstrdup("");
	rc->diagnostic = xstrdup("");
	rc->original_recipient = xstrdup("");
	rc->final_recipient = xstrdup("");
	return rc;
}

/*
 * bounce_parse_dsn_block: turn one per-recipient DSN block into a recipient; a block
 * naming a recipient seen before fills in only what is still missing.
 */
static void
bounce_parse_dsn_block(struct bounce_report *r, const struct bounce_dsn_rcpt *d)
{
	struct bounce_rcpt *rc = NULL;
	char	*addr = NULL;

	char	*fin = d->final ? bounce_dsn_addr(d->final) : NULL;
	char	*orig = d->original ? bounce_dsn_addr(d->original) : NULL;

	/* Original-Recipient is the address as it was given to the reporting MTA (RFC
	 * 3464 2.3.1), what relayd sent to; Final-Recipient may be an internal name
	 * after aliasing (a mail store's). Both are kept. */
	addr = orig != NULL ? orig : fin;
	if (addr != NULL)
		rc = bounce_parse_rcpt_add(r, addr);
	if (rc != NULL && orig != NULL && rc->original_recipient[0] == '\0') {
		free(rc->original_recipient);
		rc->original_recipient = xstrdup(orig);
	}
	if (rc != NULL && fin != NULL && rc->final_recipient[0] == '\0') {
		free(rc->final_recipient);
		rc->final_recipient = xstrdup(fin);
	}
	if (rc != NULL && rc->action[0] == '\0' && d->action != NULL) {
		free(rc->action);
		rc->action = bounce_parse_squeeze(d->action, strcspn(d->action, " \t;("), 32);
		bounce_parse_lcase(rc->action);
	}
	if (rc != NULL && rc->diagnostic[0] == '\0' && d->diag != NULL) {
		const char *v = bounce_dsn_value(d->diag);
		free(rc->diagnostic);
		rc->diagnostic = bounce_parse_squeeze(v, strlen(v), BP_DIAG_MAX);
	}
	if (rc != NULL && rc->status[0] == '\0') {
		char st[BOUNCE_STATUS_MAX] = "", dst[BOUNCE_STATUS_MAX];
		int rp;
		if (d->status != NULL)
			bounce_status_code(d->status, d->status + strlen(d->status), 1, st);
		bounce_status_best(rc->diagnostic, rc->diagnostic + strlen(rc->diagnostic),
		    dst, &rp);
		if (rc->reply_code == 0)
			rc->reply_code = rp;
		/* The remote's own code in the diagnostic says more than the reporting
		 * MTA's summary (Sendmail's 4.4.7 "gave up" after a 4.7.1 refusal). */
		memcpy(rc->status, dst[0] != '\0' ? dst : st, sizeof(rc->status));
	}
	free(fin);
	free(orig);
}

/* bounce_parse_dsn: a recipient for each recipient block of the RFC 3464 fields in s. */
static void
bounce_parse_dsn(struct bounce_report *r, const char *s)
{
	struct bounce_dsn_rcpt *d;
	size_t	 n = bounce_dsn_parse(s, &d);

	for (size_t i = 0; i < n; i++)
		bounce_parse_dsn_block(r, &d[i]);
	bounce_dsn_free(d, n);
}

/* bounce_parse_line_skip: is this line's address not a recipient mention? */
static int
bounce_parse_line_skip(const char *line, const char *at)
{
	static const char *const skip[] = {
		"message-id", "message id", "msgid", "in-reply-to", "references",
		"envelope-from", "mailto:", "x-postfix-sender", "return-path",
		"from:", "sender:", "reporting-mta", "received-from-mta", "contact",
	};
	char	 pre[400];
	size_t	 n = at - line < (long)sizeof(pre) - 1 ? (size_t)(at - line) : sizeof(pre) - 1;

	memcpy(pre, at - n, n);
	pre[n] = '\0';
	if (bounce_parse_has_any(pre, skip, nitems(skip)))
		return 1;
	/* "(expanded from <alias>)": the alias is not where it failed. */
	if (n >= 2 && strcasestr(pre, "expanded from") != NULL &&
	    strcasestr(strcasestr(pre, "expanded from"), ")") == NULL)
		return 1;
	if (n > 0 && (at[-1] == '/' || at[-1] == '=' || at[-1] == '?'))
		return 1;
	return 0;
}

/* bounce_parse_bare: is the line nothing but addr ("  <a@b>:", "a@b")? */
static int
bounce_parse_bare(const char *line, const char *at, const char *after)
{
	const char *p = line;

	while (*p == ' ' || *p == '\t' || *p == '<')
		p++;
	if (p != at)
		return 0;
	p = after;
	while (*p == '>' || *p == ':' || *p == ' ' || *p == '\t')
		p++;
	return *p == '\0';
}

/*
 * bounce_parse_text_rcpts: the failed recipients a text notice names, in order: its
 * addresses minus the sender's and the reporting side's roles. When that leaves
 * none, an address standing alone on its line is taken even so: anonymised samples
 * and mail to oneself make the recipient the sender (qmail, 1&1), and a postmaster
 * can be a recipient too.
 */
static void
bounce_parse_text_rcpts(struct bp_ctx *c, struct bounce_report *r)
{
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	char	**known;
	size_t	 nknown;

	/* A known MTA's format says where its recipients are. */
	GString *g = g_string_new(NULL);
	for (size_t i = 0; i < c->notice.cut; i++) {
		g_string_append_len(g, c->notice.lines[i].s, c->notice.lines[i].len);
		g_string_append_c(g, '\n');
	}
	bounce_text_rcpts(g->str, g->len, &known, &nknown);
	g_string_free(g, TRUE);
	for (size_t i = 0; i < nknown; i++)
		if (!bounce_parse_is_notrcpt(c, known[i]))
			bounce_parse_rcpt_add(r, known[i]);
	bounce_text_rcpts_free(known, nknown);

	for (int pass = 0; pass < 2 && r->nrcpts == 0; pass++) {
		for (size_t i = 0; i < c->notice.cut; i++) {
			const char *s, *end, *at, *after;
			char line[1024];
			size_t n = c->notice.lines[i].len < sizeof(line) - 1 ? c->notice.lines[i].len :
			    sizeof(line) - 1;

			memcpy(line, c->notice.lines[i].s, n);
			line[n] = '\0';
			s = line;
			end = line + n;
			while (s < end && bounce_text_addr(s, end, a, &at, &after) == 0) {
				s = after;
				if (pass == 0 && bounce_parse_line_skip(line, at)) {
					/* "contact <x>" once: x is never the recipient. */
					bounce_parse_notrcpt_add(c, a);
					continue;
				}
				if (pass == 0 && (bounce_parse_is_notrcpt(c, a) ||
				    bounce_text_notice_find(&c->notice, a, i) != i))
					continue;
				if (pass == 1 && !bounce_parse_bare(line, at, after))
					continue;
				bounce_parse_rcpt_add(r, a);
			}
		}
	}
}

/* bounce_parse_best_line: the line of [from, end) with the best code, or end. */
static size_t
bounce_parse_best_line(const struct bounce_text_notice *n, size_t from, size_t end)
{
	size_t	 best = end;
	int	 bestq = 0;

	for (size_t i = from; i < end; i++) {
		char code[BOUNCE_STATUS_MAX];
		int rp, q = bounce_status_best(n->lines[i].s, n->lines[i].s + n->lines[i].len,
		    code, &rp);
		if (q > bestq) {
			bestq = q;
			best = i;
			if (q == 3)
				break;
		}
	}
	return best;
}

/*
 * bounce_parse_text_diag: fill what rc lacks (status, reply code, diagnostic) from the
 * paragraph of the notice about the recipient: from its first mention to the next
 * recipient's. Returns 1 when that paragraph or the diagnostic shows the refusal
 * came after DATA (the address was accepted at RCPT TO), else 0.
 */
static int
bounce_parse_text_diag(struct bp_ctx *c, struct bounce_report *r, struct bounce_rcpt *rc)
{
	static const char *const data_phase[] = {
		"end of data", "after data", "data command",
	};
	size_t	 start = bounce_text_notice_find(&c->notice, rc->recipient, 0), end = c->notice.cut;

	if (start == c->notice.cut)
		start = 0;
	for (size_t k = 0; k < r->nrcpts; k++) {
		if (&r->rcpts[k] == rc)
			continue;
		size_t o = bounce_text_notice_find(&c->notice, r->rcpts[k].recipient, start + 1);
		if (o > start && o < end)
			end = o;
	}

	/* The line with the best code: "550 5.1.1" beats "5.1.1" beats "550". A lone
	 * recipient whose paragraph has none may have its reason elsewhere in the
	 * notice (MailMarshal gives it before the address). */
	size_t	 best = bounce_parse_best_line(&c->notice, start, end);
	if (best == end && r->nrcpts == 1) {
		size_t other = bounce_parse_best_line(&c->notice, 0, c->notice.cut);
		if (other < c->notice.cut)
			start = best = other, end = c->notice.cut;
	}
	char	 st[BOUNCE_STATUS_MAX] = "";
	int	 reply = 0, data = 0;
	if (best < end) {
		bounce_status_best(c->notice.lines[best].s, c->notice.lines[best].s + c->notice.lines[best].len,
		    st, &reply);
	}
	/* Postfix "(in reply to end of DATA command)", Exim "after end of data". A
	 * Sendmail transcript's ">>> DATA" alone says nothing (with PIPELINING the
	 * RCPT replies follow it); its own "554 5.0.0" summary of the reply does. */
	if (bounce_text_notice_has(&c->notice, start, end, data_phase, nitems(data_phase)))
		data = 1;
	for (size_t i = 0; i + 2 < c->notice.cut; i++)
		if (c->notice.lines[i].len >= 8 && strncasecmp(c->notice.lines[i].s, ">>> data", 8) == 0 &&
		    c->notice.lines[i + 1].len > 5 && strncmp(c->notice.lines[i + 1].s, "<<< 5", 5) == 0 &&
		    c->notice.lines[i + 2].len > 9 && strncmp(c->notice.lines[i + 2].s, "554 5.0.0", 9) == 0)
			data = 1;
	if (rc->reply_code == 0)
		rc->reply_code = reply;

	/* The paragraph around the code (back over a wrapped reply), or around the
	 * mention when there is none (a reason may come just before the address). */
	size_t from = best < end ? best : start;
	while (from > 0 && c->notice.lines[from - 1].len > 0 && from + 3 > (best < end ?
	    best : start) && (best == end || from > start))
		from--;
	if (rc->diagnostic[0] == '\0') {
		GString *g = g_string_new(NULL);
		for (size_t i = from, nl = 0; i < end && nl < BP_DIAG_LINES; i++) {
			if (c->notice.lines[i].len == 0) {
				if (best < end && i > best)
					break;
				continue;
			}
			g_string_append_len(g, c->notice.lines[i].s, c->notice.lines[i].len);
			g_string_append_c(g, ' ');
			nl++;
		}
		free(rc->diagnostic);
		rc->diagnostic = bounce_parse_squeeze(g->str, g->len, BP_DIAG_MAX);
		g_string_free(g, TRUE);
	}
	/* A generic X.0.0 from the report says less than the remote's own code. */
	if (st[0] != '\0' && (rc->status[0] == '\0' ||
	    (rc->status[0] == st[0] && strcmp(rc->status + 1, ".0.0") == 0)))
		memcpy(rc->status, st, sizeof(rc->status));
	if (rc->status[0] == '\0')
		bounce_status_guess(rc->diagnostic, rc->reply_code,
		    strcmp(rc->action, "delayed") == 0, rc->status);
	return data || bounce_parse_has_any(rc->diagnostic, data_phase, nitems(data_phase));
}

/* bounce_parse_header: a top-level header's value, or "". */
static const char *
bounce_parse_header(GMimeMessage *m, const char *name)
{
	const char *v = g_mime_object_get_header(GMIME_OBJECT(m), name);
	return v ? v : "";
}

/* bounce_parse_is_autoreply: do the headers say RFC 3834 auto-reply or vacation? */
static int
bounce_parse_is_autoreply(GMimeMessage *m, const char *subject)
{
	const char *as = bounce_parse_header(m, "Auto-Submitted");
	const char *prec = bounce_parse_header(m, "Precedence");

	if (strncasecmp(as, "auto-replied", 12) == 0 ||
	    *bounce_parse_header(m, "X-Autoreply") != '\0' ||
	    *bounce_parse_header(m, "X-Autorespond") != '\0' ||
	    *bounce_parse_header(m, "X-Autoresponse") != '\0' ||
	    strcasestr(prec, "auto_reply") != NULL)
		return 1;
	for (size_t i = 0; i < nitems(bp_auto_subjects); i++)
		if (strncasecmp(subject, bp_auto_subjects[i], strlen(bp_auto_subjects[i])) == 0)
			return 1;
	return 0;
}

/*
 * bounce_parse_is_robot: BOUNCE_NONE for a list server's reply (From a list robot
 * or a "-request" address, or a command-results subject), BOUNCE_AUTOREPLY for a
 * challenge-response request (its headers or subject), else BOUNCE_FAILURE (that
 * is: "it may be a bounce, look further").
 */
static enum bounce_type
bounce_parse_is_robot(GMimeMessage *m, const char *subject)
{
	static const char *const list_locals[] = {
		"majordomo", "listserv", "mailman", "sympa", "listproc", "ecartis",
		"lyris", "listar", "smartlist",
	};
	static const char *const list_subjects[] = {
		"majordomo results", "results of your email command", "command results",
		"results of your command", "listserv command", "mailman results",
		"output of your job", "your message to", "subscription", "welcome to",
	};
	static const char *const cr_headers[] = {
		"X-TMDA-Confirm-Done", "X-Boxbe-Challenge", "X-Challenge", "X-Spam-Arrest",
		"X-Bluebottle-Request", "X-ChallengeResponse",
	};
	static const char *const cr_subjects[] = {
		"please confirm your message", "confirm your message", "please verify",
		"verification required", "sender verification request",
		"challenge-response", "is awaiting your confirmation", "authentication required",
		"spam arrest", "boxbe", "confirm that you",
	};
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	const char *from = bounce_parse_header(m, "From"), *at, *after;

	for (size_t i = 0; i < nitems(cr_headers); i++)
		if (*bounce_parse_header(m, cr_headers[i]) != '\0')
			return BOUNCE_AUTOREPLY;
	if (bounce_parse_has_any(subject, cr_subjects, nitems(cr_subjects)))
		return BOUNCE_AUTOREPLY;
	if (bounce_text_addr(from, from + strlen(from), a, &at, &after) == 0) {
		size_t n = strcspn(a, "@");
		a[n] = '\0';
		bounce_parse_lcase(a);
		if (n > 8 && strcmp(a + n - 8, "-request") == 0)
			return BOUNCE_NONE;
		for (size_t i = 0; i < nitems(list_locals); i++)
			if (strcmp(a, list_locals[i]) == 0)
				return BOUNCE_NONE;
	}
	if (bounce_parse_has_any(subject, list_subjects, nitems(list_subjects)) &&
	    (*bounce_parse_header(m, "List-Id") != '\0' ||
	    strncasecmp(subject, "majordomo", 9) == 0 || strcasestr(subject, "result")))
		return BOUNCE_NONE;
	return BOUNCE_FAILURE;
}

/* bounce_parse_from_daemon: is the notice from a mailer daemon or postmaster? */
static int
bounce_parse_from_daemon(GMimeMessage *m)
{
	static const char *const names[] = {
		"mailer-daemon", "mailer_daemon", "postmaster", "post_master", "mail delivery",
		"mail administrator", "maildaemon", "mail system", "mdaemon",
		"systemadministrator", "system administrator",
	};
	const char *from = bounce_parse_header(m, "From");

	return bounce_parse_has_any(from, names, nitems(names));
}

/* bounce_parse_ctx_free: release what a walk collected. */
static void
bounce_parse_ctx_free(struct bp_ctx *c)
{
	bounce_mime_clear(&c->mime);
	free(c->orig_msgid);
	for (size_t i = 0; i < c->nnotrcpt; i++)
		free(c->notrcpt[i]);
	free(c->notrcpt);
	for (size_t i = 0; i < c->norigto; i++)
		free(c->origto[i]);
	free(c->origto);
	bounce_text_notice_free(&c->notice);
}

/* bounce_parse_classify: decide the report's type once recipients are known. */
static enum bounce_type
bounce_parse_classify(struct bounce_report *r)
{
	int failed = 0, delayed = 0, delivered = 0;

	for (size_t i = 0; i < r->nrcpts; i++) {
		const char *a = r->rcpts[i].action, *st = r->rcpts[i].status;
		if (strcmp(a, "failed") == 0)
			failed++;
		else if (strcmp(a, "delayed") == 0)
			delayed++;
		else if (strcmp(a, "delivered") == 0 || strcmp(a, "relayed") == 0 ||
		    strcmp(a, "expanded") == 0 || st[0] == '2')
			delivered++;
		else
			failed++;
	}
	if (failed)
		return BOUNCE_FAILURE;
	if (delayed)
		return BOUNCE_DELAY;
	if (delivered)
		return BOUNCE_DELIVERED;
	return BOUNCE_FAILURE;
}

/*
 * bounce_parse_message: the message buf[0..len) as GMime reads it (a leading mbox
 * "From " line skipped), or NULL when it is empty or unreadable.
 */
static GMimeMessage *
bounce_parse_message(const char *buf, size_t len)
{
	/* An mbox "From " line is not a header; GMime would stop there. */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
		const char *eol = memchr(buf, '\n', len);
		len -= eol ? (size_t)(eol + 1 - buf) : len;
		buf = eol ? eol + 1 : buf + 5;
	}
	if (len == 0)
		return NULL;
	bounce_parse_init();
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(buf, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	return m;
}

/* bounce_parse_notrcpt_value: every address of a header value is not a recipient. */
static void
bounce_parse_notrcpt_value(struct bp_ctx *c, const char *v)
{
	char	 a[BOUNCE_TEXT_ADDR_MAX];
	const char *at, *after, *end = v ? v + strlen(v) : NULL;

	while (v != NULL && bounce_text_addr(v, end, a, &at, &after) == 0) {
		bounce_parse_notrcpt_add(c, a);
		v = after;
	}
}

/*
 * bounce_parse_collect: phase 1, gather the notice: the MIME walk, the notice's text
 * in lines (the raw body when GMime found no parts), and who is not a recipient: the
 * account the notice is addressed to, and the original's sender (attached, in
 * rfc822-headers, or quoted after the cut).
 */
static void
bounce_parse_collect(struct bp_ctx *c, GMimeMessage *m, const char *buf, size_t len)
{
	struct bounce_mime *bm = &c->mime;

	bounce_mime_collect(bm, g_mime_message_get_mime_part(m));
	c->orig_msgid = bm->orig_msgid;
	bm->orig_msgid = NULL;
	if (bm->text->len == 0 && bm->html->len > 0)
		g_string_append(bm->text, bm->html->str);
	if (bm->text->len == 0 && bm->dsn->len == 0) {
		/* A multipart without its boundaries (PMDF): GMime finds no parts, the
		 * notice is the raw body. */
		const char *b = bounce_text_find(buf, len, "\n\n", NULL);
		const char *b2 = bounce_text_find(buf, len, "\n\r\n", NULL);
		if (b == NULL || (b2 != NULL && b2 < b))
			b = b2;
		if (b != NULL)
			for (const char *q = b; q < buf + len; q++)
				g_string_append_c(bm->text, *q ? *q : ' ');
	}
	bounce_text_notice_split(&c->notice, bm->text->str);

	for (size_t i = 0; i < bm->nsenders; i++)
		bounce_parse_notrcpt_add(c, bm->senders[i]);
	for (size_t i = 0; i < bm->ntos; i++)
		bounce_parse_origto_add(c, bm->tos[i]);
	bounce_parse_notrcpt_value(c, bounce_parse_header(m, "To"));
	bounce_parse_notrcpt_value(c, bounce_parse_header(m, "From"));
	if (bm->headers->len > 0)
		bounce_parse_headers_scan(c, bm->headers->str, bm->headers->len,
		    &c->orig_msgid);
	if (c->notice.orig < c->notice.nlines) {
		/* Skip blank lines between the marker and the quoted headers. */
		size_t i = c->notice.orig;
		while (i < c->notice.nlines && c->notice.lines[i].len == 0)
			i++;
		if (i < c->notice.nlines)
			bounce_parse_headers_scan(c, c->notice.lines[i].s, strlen(c->notice.lines[i].s),
			    &c->orig_msgid);
	}
}

/*
 * bounce_parse_screen: phase 2, is this a delivery notice at all? Reads the RFC 3464
 * fields into out (they are evidence); sets out->type and returns 0 for a feedback
 * report, a list server's or challenge-response system's reply, an auto-reply, or a
 * message with no sign of a bounce; returns 1 to read on.
 */
static int
bounce_parse_screen(struct bp_ctx *c, GMimeMessage *m, struct bounce_report *out)
{
	const char *subject = g_mime_message_get_subject(m);
	if (subject == NULL)
		subject = "";
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(m));
	const char *rtype = ct ? g_mime_content_type_get_parameter(ct, "report-type") : NULL;
	const char *xfailed = bounce_parse_header(m, "X-Failed-Recipients");

	if (c->mime.feedback || (rtype != NULL && strcasecmp(rtype, "feedback-report") == 0) ||
	    (strcasestr(subject, "complaint about message") != NULL && c->mime.original)) {
		out->type = BOUNCE_FEEDBACK;
		return 0;
	}

	if (c->mime.dsn->len > 0)
		bounce_parse_dsn(out, c->mime.dsn->str);
	else if (strcasestr(c->mime.text->str, "final-recipient:") != NULL)
		bounce_parse_dsn(out, c->mime.text->str);

	int daemon = bounce_parse_from_daemon(m);
	int report = out->nrcpts > 0 || *xfailed != '\0' ||
	    (rtype != NULL && strcasecmp(rtype, "delivery-status") == 0);
	/* A list server's command reply, a challenge-response request: people's or
	 * robots' answers, never a bounce, whatever words they quote. */
	if (!report && !daemon) {
		enum bounce_type t = bounce_parse_is_robot(m, subject);
		if (t != BOUNCE_FAILURE) {
			out->type = t;
			return 0;
		}
	}
	int evidence = report || daemon ||
	    bounce_parse_has_any(subject, bp_bounce_subjects, nitems(bp_bounce_subjects));
	if (out->nrcpts == 0 && bounce_parse_is_autoreply(m, subject) && !evidence) {
		out->type = BOUNCE_AUTOREPLY;
		return 0;
	}
	/* Text phrases count only in the notice part, never in a quoted original. */
	if (!evidence && bounce_text_notice_has(&c->notice, 0, c->notice.cut, bp_bounce_phrases,
	    nitems(bp_bounce_phrases)))
		evidence = 1;
	return evidence;
}

/*
 * bounce_parse_recipients: phase 3, the failed recipients when the report gave none:
 * X-Failed-Recipients (Exim) unless the notice names none of them, the notice text,
 * and last whom the quoted original was addressed to.
 */
static void
bounce_parse_recipients(struct bp_ctx *c, GMimeMessage *m, struct bounce_report *out)
{
	const char *xfailed = bounce_parse_header(m, "X-Failed-Recipients");

	if (out->nrcpts == 0 && *xfailed != '\0') {
		char a[BOUNCE_TEXT_ADDR_MAX];
		const char *s = xfailed, *end = s + strlen(s), *at, *after;
		while (bounce_text_addr(s, end, a, &at, &after) == 0) {
			bounce_parse_rcpt_add(out, a);
			s = after;
		}
		/* Trust the header unless the notice names none of its addresses
		 * and names others (a header rewritten on the way). */
		int named = 0;
		for (size_t i = 0; i < out->nrcpts; i++)
			named |= bounce_text_notice_find(&c->notice, out->rcpts[i].recipient, 0) < c->notice.cut;
		if (!named) {
			struct bounce_report t = { 0 };
			bounce_parse_text_rcpts(c, &t);
			if (t.nrcpts > 0) {
				bounce_report_clear(out);
				*out = t;
			} else
				bounce_report_clear(&t);
		}
	}
	if (out->nrcpts == 0)
		bounce_parse_text_rcpts(c, out);
	/* Whom the quoted original was addressed to (Verizon, old Sendmail and
	 * Postfix without a report quote only the original). */
	for (size_t i = 0; out->nrcpts == 0 && i < c->norigto; i++)
		if (!bounce_parse_is_notrcpt(c, c->origto[i]))
			bounce_parse_rcpt_add(out, c->origto[i]);
}

/*
 * bounce_parse_details: phase 4, what each recipient lacks (action, status, reply,
 * diagnostic) from the notice, then whether its failure is permanent, its reason
 * and its kind, and the report's type.
 */
static void
bounce_parse_details(struct bp_ctx *c, struct bounce_report *out)
{
	int delayed = bounce_text_notice_has(&c->notice, 0, c->notice.cut, bp_delay_phrases,
	    nitems(bp_delay_phrases));

	for (size_t i = 0; i < out->nrcpts; i++) {
		struct bounce_rcpt *rc = &out->rcpts[i];
		if (rc->action[0] == '\0' && delayed) {
			free(rc->action);
			rc->action = xstrdup("delayed");
		}
		int data = bounce_parse_text_diag(c, out, rc);
		if (rc->action[0] == '\0') {
			free(rc->action);
			rc->action = xstrdup(rc->status[0] == '2' ? "delivered" : "failed");
		}
		rc->permanent = bounce_status_permanent(rc->action, rc->status);
		rc->reason = bounce_status_reason(rc->status, rc->diagnostic);
		/* Failed with a temporary status: the condition lasted until the MTA
		 * gave up retrying (RFC 3464 2.3.3, 3463 X.4.7). */
		if (strcmp(rc->action, "failed") == 0 && rc->status[0] == '4' &&
		    (rc->reason == BOUNCE_REASON_NETWORK_ERROR ||
		    rc->reason == BOUNCE_REASON_UNKNOWN))
			rc->reason = BOUNCE_REASON_EXPIRED;
		/* "User unknown" after DATA: RCPT TO was accepted, so the address
		 * exists and a filter refused the message (KDDI, DoCoMo do this). */
		if (data && bounce_status_reason_kind(rc->reason, 1) == BOUNCE_HARD)
			rc->reason = BOUNCE_REASON_SPAM_OR_CONTENT;
		rc->kind = rc->status[0] == '2' ? BOUNCE_KIND_NONE :
		    bounce_status_reason_kind(rc->reason, rc->permanent);
	}
	out->type = bounce_parse_classify(out);
}

/*
 * bounce_parse_finish: phase 5, recipients only for failures, delays and delivered
 * reports; the original's Message-ID, if only quoted somewhere in the notice
 * (Exchange, Gmail text), into out.
 */
static void
bounce_parse_finish(struct bp_ctx *c, struct bounce_report *out)
{
	if (out->type != BOUNCE_FAILURE && out->type != BOUNCE_DELAY &&
	    out->type != BOUNCE_DELIVERED) {
		for (size_t i = 0; i < out->nrcpts; i++)
			bounce_parse_rcpt_free(&out->rcpts[i]);
		free(out->rcpts);
		out->rcpts = NULL;
		out->nrcpts = 0;
	}
	for (size_t i = 0; i < c->notice.nlines && c->orig_msgid == NULL; i++) {
		const struct bounce_text_line *l = &c->notice.lines[i];
		const char *k = bounce_text_find(l->s, l->len, "message-id:", NULL);
		if (k != NULL)
			c->orig_msgid = bounce_mime_msgid(k + 11, l->s + l->len - k - 11);
	}
	out->message_id = c->orig_msgid;
	c->orig_msgid = NULL;
}

int
bounce_parse(const char *buf, size_t len, struct bounce_report *out)
{
	struct bp_ctx	 c = { 0 };
	GMimeMessage	*m;

	memset(out, 0, sizeof(*out));
	if ((m = bounce_parse_message(buf, len)) == NULL)
		return -1;
	bounce_parse_collect(&c, m, buf, len);
	if (bounce_parse_screen(&c, m, out)) {
		bounce_parse_recipients(&c, m, out);
		bounce_parse_details(&c, out);
	}
	bounce_parse_finish(&c, out);
	bounce_parse_ctx_free(&c);
	g_object_unref(m);
	return 0;
}

void
bounce_report_clear(struct bounce_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrcpts; i++)
		bounce_parse_rcpt_free(&r->rcpts[i]);
	free(r->rcpts);
	free(r->message_id);
	memset(r, 0, sizeof(*r));
}
