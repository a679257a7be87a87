/*
 * bounce_parse: tell a bounce from what is not one and say which recipients failed,
 * with which RFC 3463 status, hard or soft, and which original Message-ID it quotes.
 *
 * GMime splits the MIME structure; everything else is ours:
 *  - message/delivery-status parts (RFC 3464) are read by bounce_dsn, one block per
 *    recipient (Final-Recipient, Original-Recipient, Action, Status, Diagnostic-Code);
 *  - text bounces (Exim/Mail.ru, qmail, Sendmail, Postfix without DSN, Exchange...)
 *    are read as lines: the human-readable notice is cut where the quoted original
 *    starts, its addresses minus the sender's are the failed recipients, and the
 *    paragraph after each one holds its SMTP reply and enhanced status;
 *  - auto-replies (RFC 3834) and feedback reports (RFC 5965) are recognised first so
 *    they are never taken for failures; Action: delayed is a delay, not a failure.
 * What codes and words mean (hard or soft) is bounce_status's part.
 * imap_watch feeds it messages fetched from the account's mailbox; relayctl
 * bounce-parse feeds it saved files. Pure: no I/O, no logging.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "bounce_dsn.h"
#include "bounce_parse.h"
#include "bounce_status.h"
#include "bounce_text.h"
#include "xmalloc.h"

#define BP_DEPTH_MAX	32	/* MIME nesting we follow */
#define BP_RCPT_MAX	128	/* recipients kept per report */
#define BP_DIAG_MAX	600	/* bytes of diagnostic text kept */
#define BP_DIAG_LINES	6	/* lines of a text bounce joined into a diagnostic */

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* A line of the notification text: points into bp_ctx.textbuf. */
struct bp_line {
	const char	*s;
	size_t		 len;
};

/* What a walk over the MIME tree collects. */
struct bp_ctx {
	GString		*text;		/* text/plain parts of the notice, UTF-8 */
	GString		*html;		/* text/html parts, tags removed */
	GString		*dsn;		/* message/delivery-status contents */
	GString		*headers;	/* text/rfc822-headers contents */
	char		*orig_msgid;	/* from an attached message/rfc822 */
	char		**notrcpt;	/* lower-cased addresses that are not recipients */
	size_t		 nnotrcpt;
	char		**origto;	/* the original's To/Cc addresses */
	size_t		 norigto;
	int		 feedback;	/* message/feedback-report seen */
	int		 original;	/* an attached original was seen */
	char		*textbuf;	/* the notice, split into lines */
	struct bp_line	*lines;
	size_t		 nlines;
	size_t		 cut;		/* first line past the notice (a marker or the original) */
	size_t		 orig;		/* first line of the quoted original */
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

/* Markers (lower case) of the line after which a text bounce quotes the original. */
static const char *const bp_cut_markers[] = {
	"copy of the message", "copy of your message", "original message follows",
	"message headers follow", "original message headers",
	"header of the original message", "headers of the original message",
	"unsent message below", "returned mail follows", "original message is attached",
	"content-type: message/rfc822", "content-type: text/rfc822-headers",
	"the first part of the original message", "original message header",
	"headers of your message", "message header follows",
};

/* Header names that start a quoted original in a text bounce. */
static const char *const bp_orig_headers[] = {
	"received:", "return-path:", "dkim-signature:", "message-id:", "from:",
	"date:", "subject:", "to:", "x-mailer:",
};

/*
 * Of those, the ones a notice's own summary ("To:, Subject:, Sent:") lacks. MIME part
 * headers (Content-Type...) start no original: a notice read raw has them too.
 */
static const char *const bp_orig_strong[] = {
	"received:", "return-path:", "dkim-signature:", "message-id:", "x-mailer:",
	"from:",
};

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

/* bounce_parse_memcasestr: needle (any case) in s[0..len), or NULL. */
static const char *
bounce_parse_memcasestr(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return s + i;
	return NULL;
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

/* bounce_parse_notrcpt_list: remember every mailbox of an address list. */
static void
bounce_parse_notrcpt_list(struct bp_ctx *c, InternetAddressList *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < internet_address_list_length(l); i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			bounce_parse_notrcpt_add(c,
			    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
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

/* bounce_parse_msgid: a copy of a Message-ID header value without <>, or NULL. */
static char *
bounce_parse_msgid(const char *v, size_t len)
{
	const char *s = v, *end = v + len, *lt, *gt;

	while (s < end && isspace((unsigned char)*s))
		s++;
	lt = memchr(s, '<', end - s);
	if (lt != NULL && (gt = memchr(lt, '>', end - lt)) != NULL && gt > lt + 1)
		return bounce_parse_squeeze(lt + 1, gt - lt - 1, 998);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	if (end == s || memchr(s, '@', end - s) == NULL)
		return NULL;
	const char *sp = s;
	while (sp < end && !isspace((unsigned char)*sp))
		sp++;
	return bounce_parse_squeeze(s, sp - s, 998);
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
				*msgid = bounce_parse_msgid(p + 11, vend - p - 11);
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

/* bounce_parse_content: the decoded content of a leaf part, appended to g. */
static void
bounce_parse_content(GMimePart *part, GString *g)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (w == NULL)
		return;
	GMimeStream *ms = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, ms);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	if (ba != NULL && ba->len > 0) {
		/* NULs would cut our C strings short; make them spaces. */
		for (guint i = 0; i < ba->len; i++)
			g_string_append_c(g, ba->data[i] ? (char)ba->data[i] : ' ');
	}
	g_string_append_c(g, '\n');
	g_object_unref(ms);
}

/* bounce_parse_html: append the text of an HTML part with its tags removed. */
static void
bounce_parse_html(const char *h, GString *g)
{
	int intag = 0;

	for (const char *p = h; *p; p++) {
		if (*p == '<') {
			intag = 1;
			if (strncasecmp(p, "<br", 3) == 0 || strncasecmp(p, "<p", 2) == 0 ||
			    strncasecmp(p, "<div", 4) == 0 || strncasecmp(p, "<tr", 3) == 0)
				g_string_append_c(g, '\n');
			continue;
		}
		if (*p == '>' && intag) {
			intag = 0;
			continue;
		}
		if (intag)
			continue;
		if (strncmp(p, "&lt;", 4) == 0)
			g_string_append_c(g, '<'), p += 3;
		else if (strncmp(p, "&gt;", 4) == 0)
			g_string_append_c(g, '>'), p += 3;
		else if (strncmp(p, "&amp;", 5) == 0)
			g_string_append_c(g, '&'), p += 4;
		else if (strncmp(p, "&nbsp;", 6) == 0)
			g_string_append_c(g, ' '), p += 5;
		else
			g_string_append_c(g, *p);
	}
	g_string_append_c(g, '\n');
}

/* bounce_parse_original: note what an attached original says: Message-ID, sender. */
static void
bounce_parse_original(struct bp_ctx *c, GMimeMessage *m)
{
	const char *id = g_mime_message_get_message_id(m);

	c->original = 1;
	if (c->orig_msgid == NULL && id != NULL && *id != '\0')
		c->orig_msgid = bounce_parse_msgid(id, strlen(id));
	bounce_parse_notrcpt_list(c, g_mime_message_get_from(m));
	bounce_parse_notrcpt_list(c, g_mime_message_get_sender(m));
	const char *rp = g_mime_object_get_header(GMIME_OBJECT(m), "Return-Path");
	bounce_parse_notrcpt_add(c, rp);
	const char *to = g_mime_object_get_header(GMIME_OBJECT(m), "To");
	if (to != NULL)
		bounce_parse_origto_add(c, to);
}

/* bounce_parse_walk: collect the parts of the notice that matter, depth first. */
static void
bounce_parse_walk(struct bp_ctx *c, GMimeObject *o, int depth)
{
	if (o == NULL || depth > BP_DEPTH_MAX)
		return;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			bounce_parse_walk(c, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m != NULL)
			bounce_parse_original(c, m);
		return;
	}
	if (!GMIME_IS_PART(o))
		return;

	GMimeContentType *ct = g_mime_object_get_content_type(o);
	const char *type = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	if (type == NULL || sub == NULL)
		type = "text", sub = "plain";

	if ((strcasecmp(type, "message") == 0 || strcasecmp(type, "text") == 0) &&
	    (strcasecmp(sub, "delivery-status") == 0 ||
	    strcasecmp(sub, "global-delivery-status") == 0)) {
		bounce_parse_content(GMIME_PART(o), c->dsn);
		g_string_append_c(c->dsn, '\n');
	} else if (strcasecmp(type, "message") == 0 &&
	    strcasecmp(sub, "feedback-report") == 0) {
		c->feedback = 1;
	} else if (strcasecmp(sub, "rfc822-headers") == 0 ||
	    strcasecmp(sub, "global-headers") == 0 ||
	    (strcasecmp(type, "message") == 0 && strcasecmp(sub, "rfc822") == 0)) {
		c->original = 1;
		bounce_parse_content(GMIME_PART(o), c->headers);
	} else if (strcasecmp(type, "text") == 0 && strcasecmp(sub, "html") == 0) {
		if (GMIME_IS_TEXT_PART(o)) {
			char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
			if (t != NULL)
				bounce_parse_html(t, c->html);
			g_free(t);
		}
	} else if (strcasecmp(type, "text") == 0) {
		if (GMIME_IS_TEXT_PART(o)) {
			char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
			if (t != NULL) {
				g_string_append(c->text, t);
				g_string_append_c(c->text, '\n');
			}
			g_free(t);
		}
	}
}

/* bounce_parse_looks_header: does line l look like "Name: value" of a message header? */
static int
bounce_parse_looks_header(const struct bp_line *l)
{
	size_t i = 0;

	while (i < l->len && (isalnum((unsigned char)l->s[i]) || l->s[i] == '-'))
		i++;
	return i > 0 && i < l->len && l->s[i] == ':';
}

/* bounce_parse_split: split c->text into lines; set c->cut where the original starts. */
static void
bounce_parse_split(struct bp_ctx *c, const char *text)
{
	size_t cap = 0;

	c->textbuf = xstrdup(text);
	for (char *p = c->textbuf; *p != '\0';) {
		char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (c->nlines == cap) {
			cap = cap ? cap * 2 : 64;
			c->lines = xreallocarray(c->lines, cap, sizeof(*c->lines));
		}
		c->lines[c->nlines].s = p;
		c->lines[c->nlines].len = n;
		c->nlines++;
		if (eol == NULL)
			break;
		p = eol + 1;
	}

	c->cut = c->orig = c->nlines;
	for (size_t i = 0; i < c->nlines; i++) {
		const struct bp_line *l = &c->lines[i];
		char buf[160];
		size_t n = l->len < sizeof(buf) - 1 ? l->len : sizeof(buf) - 1;

		memcpy(buf, l->s, n);
		buf[n] = '\0';
		if (bounce_parse_has_any(buf, bp_cut_markers, nitems(bp_cut_markers)) ||
		    ((buf[0] == '-' || buf[0] == '=' || buf[0] == '*' || buf[0] == '_') &&
		    strcasestr(buf, "original message") != NULL) ||
		    strncasecmp(buf, "original message:", 17) == 0) {
			c->cut = i;
			c->orig = i + 1;
			return;
		}
		/* A run of message headers starts a quoted original without a marker. */
		int known = 0;
		for (size_t k = 0; k < nitems(bp_orig_headers); k++)
			if (strncasecmp(buf, bp_orig_headers[k], strlen(bp_orig_headers[k])) == 0)
				known = 1;
		if (!known || i == 0)
			continue;
		int more = 0, strong = 0;
		for (size_t j = i; j < c->nlines && j < i + 8; j++) {
			const struct bp_line *h = &c->lines[j];
			if (h->len == 0)
				break;
			if (j > i && bounce_parse_looks_header(h))
				more++;
			for (size_t k = 0; k < nitems(bp_orig_strong); k++)
				if (h->len >= strlen(bp_orig_strong[k]) && strncasecmp(h->s,
				    bp_orig_strong[k], strlen(bp_orig_strong[k])) == 0)
					strong = 1;
		}
		if (!strong)
			continue;
		if (more >= 2) {
			c->cut = c->orig = i;
			return;
		}
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

static size_t	bounce_parse_find(struct bp_ctx *, const char *, size_t);

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
	for (size_t i = 0; i < c->cut; i++) {
		g_string_append_len(g, c->lines[i].s, c->lines[i].len);
		g_string_append_c(g, '\n');
	}
	bounce_text_rcpts(g->str, g->len, &known, &nknown);
	g_string_free(g, TRUE);
	for (size_t i = 0; i < nknown; i++)
		if (!bounce_parse_is_notrcpt(c, known[i]))
			bounce_parse_rcpt_add(r, known[i]);
	bounce_text_rcpts_free(known, nknown);

	for (int pass = 0; pass < 2 && r->nrcpts == 0; pass++) {
		for (size_t i = 0; i < c->cut; i++) {
			const char *s, *end, *at, *after;
			char line[1024];
			size_t n = c->lines[i].len < sizeof(line) - 1 ? c->lines[i].len :
			    sizeof(line) - 1;

			memcpy(line, c->lines[i].s, n);
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
				    bounce_parse_find(c, a, i) != i))
					continue;
				if (pass == 1 && !bounce_parse_bare(line, at, after))
					continue;
				bounce_parse_rcpt_add(r, a);
			}
		}
	}
}

/*
 * bounce_parse_find: the first line in [from, cut) that names addr, or c->cut. Lines
 * that only repeat the original's To:/Cc: header (Exchange) are passed over.
 */
static size_t
bounce_parse_find(struct bp_ctx *c, const char *addr, size_t from)
{
	size_t alen = strlen(addr);

	for (size_t i = from; i < c->cut; i++) {
		const struct bp_line *l = &c->lines[i];
		size_t k = 0;
		while (k < l->len && (l->s[k] == ' ' || l->s[k] == '\t'))
			k++;
		if (l->len - k >= 3 && (strncasecmp(l->s + k, "to:", 3) == 0 ||
		    strncasecmp(l->s + k, "cc:", 3) == 0))
			continue;
		if (bounce_parse_memcasestr(l->s, l->len, addr) != NULL && alen > 0)
			return i;
	}
	return c->cut;
}

/* bounce_parse_has_lines: does a line of [from, end) hold one of the phrases? */
static int
bounce_parse_has_lines(struct bp_ctx *c, size_t from, size_t end,
    const char *const *phrases, size_t n)
{
	for (size_t i = from; i < end && i < c->nlines; i++)
		for (size_t k = 0; k < n; k++)
			if (bounce_parse_memcasestr(c->lines[i].s, c->lines[i].len,
			    phrases[k]) != NULL)
				return 1;
	return 0;
}

/* bounce_parse_best_line: the line of [from, end) with the best code, or end. */
static size_t
bounce_parse_best_line(struct bp_ctx *c, size_t from, size_t end)
{
	size_t	 best = end;
	int	 bestq = 0;

	for (size_t i = from; i < end; i++) {
		char code[BOUNCE_STATUS_MAX];
		int rp, q = bounce_status_best(c->lines[i].s, c->lines[i].s + c->lines[i].len,
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
	size_t	 start = bounce_parse_find(c, rc->recipient, 0), end = c->cut;

	if (start == c->cut)
		start = 0;
	for (size_t k = 0; k < r->nrcpts; k++) {
		if (&r->rcpts[k] == rc)
			continue;
		size_t o = bounce_parse_find(c, r->rcpts[k].recipient, start + 1);
		if (o > start && o < end)
			end = o;
	}

	/* The line with the best code: "550 5.1.1" beats "5.1.1" beats "550". A lone
	 * recipient whose paragraph has none may have its reason elsewhere in the
	 * notice (MailMarshal gives it before the address). */
	size_t	 best = bounce_parse_best_line(c, start, end);
	if (best == end && r->nrcpts == 1) {
		size_t other = bounce_parse_best_line(c, 0, c->cut);
		if (other < c->cut)
			start = best = other, end = c->cut;
	}
	char	 st[BOUNCE_STATUS_MAX] = "";
	int	 reply = 0, data = 0;
	if (best < end) {
		bounce_status_best(c->lines[best].s, c->lines[best].s + c->lines[best].len,
		    st, &reply);
	}
	/* Postfix "(in reply to end of DATA command)", Exim "after end of data". A
	 * Sendmail transcript's ">>> DATA" alone says nothing (with PIPELINING the
	 * RCPT replies follow it); its own "554 5.0.0" summary of the reply does. */
	if (bounce_parse_has_lines(c, start, end, data_phase, nitems(data_phase)))
		data = 1;
	for (size_t i = 0; i + 2 < c->cut; i++)
		if (c->lines[i].len >= 8 && strncasecmp(c->lines[i].s, ">>> data", 8) == 0 &&
		    c->lines[i + 1].len > 5 && strncmp(c->lines[i + 1].s, "<<< 5", 5) == 0 &&
		    c->lines[i + 2].len > 9 && strncmp(c->lines[i + 2].s, "554 5.0.0", 9) == 0)
			data = 1;
	if (rc->reply_code == 0)
		rc->reply_code = reply;

	/* The paragraph around the code (back over a wrapped reply), or around the
	 * mention when there is none (a reason may come just before the address). */
	size_t from = best < end ? best : start;
	while (from > 0 && c->lines[from - 1].len > 0 && from + 3 > (best < end ?
	    best : start) && (best == end || from > start))
		from--;
	if (rc->diagnostic[0] == '\0') {
		GString *g = g_string_new(NULL);
		for (size_t i = from, nl = 0; i < end && nl < BP_DIAG_LINES; i++) {
			if (c->lines[i].len == 0) {
				if (best < end && i > best)
					break;
				continue;
			}
			g_string_append_len(g, c->lines[i].s, c->lines[i].len);
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
	g_string_free(c->text, TRUE);
	g_string_free(c->html, TRUE);
	g_string_free(c->dsn, TRUE);
	g_string_free(c->headers, TRUE);
	free(c->orig_msgid);
	for (size_t i = 0; i < c->nnotrcpt; i++)
		free(c->notrcpt[i]);
	free(c->notrcpt);
	for (size_t i = 0; i < c->norigto; i++)
		free(c->origto[i]);
	free(c->origto);
	free(c->textbuf);
	free(c->lines);
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

int
bounce_parse(const char *buf, size_t len, struct bounce_report *out)
{
	struct bp_ctx	 c = { 0 };
	GMimeMessage	*m;

	memset(out, 0, sizeof(*out));
	/* An mbox "From " line is not a header; GMime would stop there. */
	if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
		const char *eol = memchr(buf, '\n', len);
		len -= eol ? (size_t)(eol + 1 - buf) : len;
		buf = eol ? eol + 1 : buf + 5;
	}
	if (len == 0)
		return -1;

	bounce_parse_init();
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(buf, len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	g_object_unref(st);
	m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	if (m == NULL)
		return -1;

	c.text = g_string_new(NULL);
	c.html = g_string_new(NULL);
	c.dsn = g_string_new(NULL);
	c.headers = g_string_new(NULL);
	bounce_parse_walk(&c, g_mime_message_get_mime_part(m), 0);
	if (c.text->len == 0 && c.html->len > 0)
		g_string_append(c.text, c.html->str);
	if (c.text->len == 0 && c.dsn->len == 0) {
		/* A multipart without its boundaries (PMDF): GMime finds no parts, the
		 * notice is the raw body. */
		const char *b = bounce_parse_memcasestr(buf, len, "\n\n");
		const char *b2 = bounce_parse_memcasestr(buf, len, "\n\r\n");
		if (b == NULL || (b2 != NULL && b2 < b))
			b = b2;
		if (b != NULL)
			for (const char *q = b; q < buf + len; q++)
				g_string_append_c(c.text, *q ? *q : ' ');
	}
	bounce_parse_split(&c, c.text->str);

	/* Who is not a recipient: the account the notice is addressed to, and the
	 * original's sender (attached, in rfc822-headers, or quoted after the cut). */
	bounce_parse_notrcpt_list(&c, g_mime_message_get_to(m));
	bounce_parse_notrcpt_list(&c, g_mime_message_get_from(m));
	if (c.headers->len > 0)
		bounce_parse_headers_scan(&c, c.headers->str, c.headers->len, &c.orig_msgid);
	if (c.orig < c.nlines) {
		/* Skip blank lines between the marker and the quoted headers. */
		size_t i = c.orig;
		while (i < c.nlines && c.lines[i].len == 0)
			i++;
		if (i < c.nlines)
			bounce_parse_headers_scan(&c, c.lines[i].s, strlen(c.lines[i].s),
			    &c.orig_msgid);
	}

	const char *subject = g_mime_message_get_subject(m);
	if (subject == NULL)
		subject = "";
	GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(m));
	const char *rtype = ct ? g_mime_content_type_get_parameter(ct, "report-type") : NULL;
	const char *xfailed = bounce_parse_header(m, "X-Failed-Recipients");

	if (c.feedback || (rtype != NULL && strcasecmp(rtype, "feedback-report") == 0) ||
	    (strcasestr(subject, "complaint about message") != NULL && c.original)) {
		out->type = BOUNCE_FEEDBACK;
		goto done;
	}

	if (c.dsn->len > 0)
		bounce_parse_dsn(out, c.dsn->str);
	else if (strcasestr(c.text->str, "final-recipient:") != NULL)
		bounce_parse_dsn(out, c.text->str);

	int daemon = bounce_parse_from_daemon(m);
	int report = out->nrcpts > 0 || *xfailed != '\0' ||
	    (rtype != NULL && strcasecmp(rtype, "delivery-status") == 0);
	/* A list server's command reply, a challenge-response request: people's or
	 * robots' answers, never a bounce, whatever words they quote. */
	if (!report && !daemon) {
		enum bounce_type t = bounce_parse_is_robot(m, subject);
		if (t != BOUNCE_FAILURE) {
			out->type = t;
			goto done;
		}
	}
	int evidence = report || daemon ||
	    bounce_parse_has_any(subject, bp_bounce_subjects, nitems(bp_bounce_subjects));
	if (out->nrcpts == 0 && bounce_parse_is_autoreply(m, subject) && !evidence) {
		out->type = BOUNCE_AUTOREPLY;
		goto done;
	}
	if (!evidence) {
		/* Text phrases count only in the notice part, never in a quoted original. */
		GString *g = g_string_new(NULL);
		for (size_t i = 0; i < c.cut; i++) {
			g_string_append_len(g, c.lines[i].s, c.lines[i].len);
			g_string_append_c(g, '\n');
		}
		evidence = bounce_parse_has_any(g->str, bp_bounce_phrases,
		    nitems(bp_bounce_phrases));
		g_string_free(g, TRUE);
	}
	if (!evidence)
		goto done;

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
			named |= bounce_parse_find(&c, out->rcpts[i].recipient, 0) < c.cut;
		if (!named) {
			struct bounce_report t = { 0 };
			bounce_parse_text_rcpts(&c, &t);
			if (t.nrcpts > 0) {
				bounce_report_clear(out);
				*out = t;
			} else
				bounce_report_clear(&t);
		}
	}
	if (out->nrcpts == 0)
		bounce_parse_text_rcpts(&c, out);
	int delayed = bounce_parse_has_lines(&c, 0, c.cut, bp_delay_phrases,
	    nitems(bp_delay_phrases));
	/* Last resort: whom the quoted original was addressed to (Verizon, old
	 * Sendmail quote only the original). */
	for (size_t i = 0; out->nrcpts == 0 && i < c.norigto; i++)
		if (!bounce_parse_is_notrcpt(&c, c.origto[i]))
			bounce_parse_rcpt_add(out, c.origto[i]);
	for (size_t i = 0; i < out->nrcpts; i++) {
		struct bounce_rcpt *rc = &out->rcpts[i];
		if (rc->action[0] == '\0' && delayed) {
			free(rc->action);
			rc->action = xstrdup("delayed");
		}
		int data = bounce_parse_text_diag(&c, out, rc);
		if (rc->action[0] == '\0') {
			free(rc->action);
			rc->action = xstrdup(rc->status[0] == '2' ? "delivered" : "failed");
		}
		rc->permanent = bounce_status_permanent(rc->action, rc->status);
		rc->reason = bounce_status_reason(rc->status, rc->diagnostic);
		/* "User unknown" after DATA: RCPT TO was accepted, so the address
		 * exists and a filter refused the message (KDDI, DoCoMo do this). */
		if (data && bounce_status_reason_kind(rc->reason, 1) == BOUNCE_HARD)
			rc->reason = BOUNCE_REASON_SPAM_OR_CONTENT;
		rc->kind = rc->status[0] == '2' ? BOUNCE_KIND_NONE :
		    bounce_status_reason_kind(rc->reason, rc->permanent);
	}
	out->type = bounce_parse_classify(out);

done:
	if (out->type != BOUNCE_FAILURE && out->type != BOUNCE_DELAY &&
	    out->type != BOUNCE_DELIVERED) {
		for (size_t i = 0; i < out->nrcpts; i++)
			bounce_parse_rcpt_free(&out->rcpts[i]);
		free(out->rcpts);
		out->rcpts = NULL;
		out->nrcpts = 0;
	}
	if (c.orig_msgid == NULL) {
		/* A Message-ID quoted anywhere in the notice (Exchange, Gmail text). */
		for (size_t i = 0; i < c.nlines && c.orig_msgid == NULL; i++) {
			const struct bp_line *l = &c.lines[i];
			const char *k = bounce_parse_memcasestr(l->s, l->len, "message-id:");
			if (k != NULL)
				c.orig_msgid = bounce_parse_msgid(k + 11, l->s + l->len - k - 11);
		}
	}
	out->message_id = c.orig_msgid;
	c.orig_msgid = NULL;
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
