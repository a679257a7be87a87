/*
 * bounce_mime: the MIME walk of bounce parsing. A delivery failure notice is a
 * multipart/report (RFC 6522) or a plain message with parts of its own; this walks
 * whatever GMime built and keeps what the parser reads: the notice's text, the
 * delivery-status fields, and what an attached original says about itself (its
 * Message-ID to match what was sent; its sender and To to tell the failed recipient
 * from the rest). Pure apart from GMime's in-memory streams.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "bounce_mime.h"
#include "xmalloc.h"

#define BOUNCE_MIME_DEPTH	32	/* MIME nesting we follow */
#define BOUNCE_MIME_ADDRS	128	/* senders and To values kept */

char *
bounce_mime_msgid(const char *v, size_t len)
{
	const char *s = v, *end = v + len, *lt, *gt;

	while (s < end && isspace((unsigned char)*s))
		s++;
	lt = memchr(s, '<', end - s);
	if (lt != NULL && (gt = memchr(lt, '>', end - lt)) != NULL && gt > lt + 1) {
		s = lt + 1;
		end = gt;
	} else {
		while (end > s && isspace((unsigned char)end[-1]))
			end--;
		if (end == s || memchr(s, '@', end - s) == NULL)
			return NULL;
		const char *sp = s;
		while (sp < end && !isspace((unsigned char)*sp))
			sp++;
		end = sp;
	}
	/* A folded Message-ID: its white space is not part of it. */
	char *out = xmalloc(end - s + 1), *o = out;
	for (; s < end; s++)
		if (!isspace((unsigned char)*s) && *s != '\0')
			*o++ = *s;
	*o = '\0';
	return out;
}

/* bounce_mime_keep: append a copy of v to the list (up to BOUNCE_MIME_ADDRS). */
static void
bounce_mime_keep(char ***list, size_t *n, const char *v)
{
	if (v == NULL || *v == '\0' || *n >= BOUNCE_MIME_ADDRS)
		return;
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = xstrdup(v);
}

/* bounce_mime_keep_list: keep every mailbox address of an address list. */
static void
bounce_mime_keep_list(struct bounce_mime *bm, InternetAddressList *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < internet_address_list_length(l); i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			bounce_mime_keep(&bm->senders, &bm->nsenders,
			    internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)));
	}
}

/* bounce_mime_content: the decoded content of a leaf part, appended to g. */
static void
bounce_mime_content(GMimePart *part, GString *g)
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

/* bounce_mime_html: append the text of an HTML part with its tags removed. */
static void
bounce_mime_html(const char *h, GString *g)
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

/* bounce_mime_original: note what an attached original says: Message-ID, senders, To. */
static void
bounce_mime_original(struct bounce_mime *bm, GMimeMessage *m)
{
	const char *id = g_mime_message_get_message_id(m);

	bm->original = 1;
	if (bm->orig_msgid == NULL && id != NULL && *id != '\0')
		bm->orig_msgid = bounce_mime_msgid(id, strlen(id));
	bounce_mime_keep_list(bm, g_mime_message_get_from(m));
	bounce_mime_keep_list(bm, g_mime_message_get_sender(m));
	bounce_mime_keep(&bm->senders, &bm->nsenders,
	    g_mime_object_get_header(GMIME_OBJECT(m), "Return-Path"));
	bounce_mime_keep(&bm->tos, &bm->ntos, g_mime_object_get_header(GMIME_OBJECT(m), "To"));
}

/* bounce_mime_text: the text of a text part, appended to g (HTML: tags removed). */
static void
bounce_mime_text(GMimeObject *o, GString *g, int html)
{
	if (!GMIME_IS_TEXT_PART(o))
		return;
	char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
	if (t != NULL && html)
		bounce_mime_html(t, g);
	else if (t != NULL) {
		g_string_append(g, t);
		g_string_append_c(g, '\n');
	}
	g_free(t);
}

/* bounce_mime_walk: collect the parts of the notice that matter, depth first. */
static void
bounce_mime_walk(struct bounce_mime *bm, GMimeObject *o, int depth)
{
	if (o == NULL || depth > BOUNCE_MIME_DEPTH)
		return;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
			bounce_mime_walk(bm, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m != NULL)
			bounce_mime_original(bm, m);
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
		bounce_mime_content(GMIME_PART(o), bm->dsn);
		g_string_append_c(bm->dsn, '\n');
	} else if (strcasecmp(type, "message") == 0 &&
	    strcasecmp(sub, "feedback-report") == 0) {
		bm->feedback = 1;
	} else if (strcasecmp(sub, "rfc822-headers") == 0 ||
	    strcasecmp(sub, "global-headers") == 0 ||
	    (strcasecmp(type, "message") == 0 && strcasecmp(sub, "rfc822") == 0)) {
		bm->original = 1;
		bounce_mime_content(GMIME_PART(o), bm->headers);
	} else if (strcasecmp(type, "text") == 0 && strcasecmp(sub, "html") == 0) {
		bounce_mime_text(o, bm->html, 1);
	} else if (strcasecmp(type, "text") == 0) {
		bounce_mime_text(o, bm->text, 0);
	}
}

void
bounce_mime_collect(struct bounce_mime *bm, GMimeObject *o)
{
	memset(bm, 0, sizeof(*bm));
	bm->text = g_string_new(NULL);
	bm->html = g_string_new(NULL);
	bm->dsn = g_string_new(NULL);
	bm->headers = g_string_new(NULL);
	bounce_mime_walk(bm, o, 0);
}

void
bounce_mime_clear(struct bounce_mime *bm)
{
	if (bm->text != NULL)
		g_string_free(bm->text, TRUE);
	if (bm->html != NULL)
		g_string_free(bm->html, TRUE);
	if (bm->dsn != NULL)
		g_string_free(bm->dsn, TRUE);
	if (bm->headers != NULL)
		g_string_free(bm->headers, TRUE);
	free(bm->orig_msgid);
	for (size_t i = 0; i < bm->nsenders; i++)
		free(bm->senders[i]);
	free(bm->senders);
	for (size_t i = 0; i < bm->ntos; i++)
		free(bm->tos[i]);
	free(bm->tos);
	memset(bm, 0, sizeof(*bm));
}
