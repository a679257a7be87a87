/*
 * oauth_proto: OAuth 2.0 messages as pure functions (see oauth_proto.h). The token
 * and device answers are JSON (jansson); forms and redirect queries are percent-coded.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "oauth_proto.h"
#include "xmalloc.h"

/* oauth_proto_str: a string member of o, newly allocated, or NULL. */
static char *
oauth_proto_str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL && *v != '\0' ? xstrdup(v) : NULL;
}

/* oauth_proto_int: an integer member (some servers send "3599" as a string), or def. */
static long long
oauth_proto_int(json_t *o, const char *key, long long def)
{
	json_t *v = json_object_get(o, key);
	char *end;
	long long n;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v)) {
		n = strtoll(json_string_value(v), &end, 10);
		if (end != json_string_value(v) && *end == '\0')
			return n;
	}
	return def;
}

int
oauth_proto_vschar(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int
oauth_proto_parse_token(const char *body, size_t len, struct oauth_proto_token *t)
{
	json_t *o;

	memset(t, 0, sizeof(*t));
	if ((o = json_loadb(body, len, 0, NULL)) == NULL)
		return -1;
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	t->error = oauth_proto_str(o, "error");
	t->error_description = oauth_proto_str(o, "error_description");
	if (t->error == NULL) {
		t->access_token = oauth_proto_str(o, "access_token");
		t->refresh_token = oauth_proto_str(o, "refresh_token");
		t->expires_in = oauth_proto_int(o, "expires_in", 0);
		if (t->expires_in < 0)
			t->expires_in = 0;
	}
	json_decref(o);
	/* A token with other characters could break the line it is written on. */
	if ((t->access_token && !oauth_proto_vschar(t->access_token, strlen(t->access_token))) ||
	    (t->refresh_token && !oauth_proto_vschar(t->refresh_token,
	    strlen(t->refresh_token)))) {
		oauth_proto_token_clear(t);
		return -1;
	}
	return t->error != NULL || t->access_token != NULL ? 0 : -1;
}

void
oauth_proto_zfree(char *s)
{
	if (s != NULL)
		explicit_bzero(s, strlen(s));
	free(s);
}

void
oauth_proto_token_clear(struct oauth_proto_token *t)
{
	oauth_proto_zfree(t->access_token);
	oauth_proto_zfree(t->refresh_token);
	free(t->error);
	free(t->error_description);
	memset(t, 0, sizeof(*t));
}

int
oauth_proto_parse_device(const char *body, size_t len, struct oauth_proto_device *d)
{
	json_t *o;

	memset(d, 0, sizeof(*d));
	if ((o = json_loadb(body, len, 0, NULL)) == NULL)
		return -1;
	d->device_code = oauth_proto_str(o, "device_code");
	d->user_code = oauth_proto_str(o, "user_code");
	if ((d->verification_uri = oauth_proto_str(o, "verification_uri")) == NULL)
		d->verification_uri = oauth_proto_str(o, "verification_url");
	d->verification_uri_complete = oauth_proto_str(o, "verification_uri_complete");
	d->interval = (int)oauth_proto_int(o, "interval", 5);
	if (d->interval < 1 || d->interval > 300)
		d->interval = 5;
	d->expires_in = (int)oauth_proto_int(o, "expires_in", 900);
	if (d->expires_in < 1 || d->expires_in > 86400)
		d->expires_in = 900;
	json_decref(o);
	return d->device_code && d->user_code && d->verification_uri ? 0 : -1;
}

void
oauth_proto_device_clear(struct oauth_proto_device *d)
{
	oauth_proto_zfree(d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->verification_uri_complete);
	memset(d, 0, sizeof(*d));
}

/* oauth_proto_escape: append s percent-encoded (RFC 3986 unreserved kept) to out. */
static size_t
oauth_proto_escape(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			out[n++] = (char)*p;
		else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	return n;
}

char *
oauth_proto_form(const char *const *kv)
{
	size_t cap = 1, n = 0;
	char *out;

	for (size_t i = 0; kv[i] != NULL; i += 2)
		if (kv[i + 1] != NULL)
			cap += 3 * (strlen(kv[i]) + strlen(kv[i + 1])) + 2;
	out = xmalloc(cap);
	for (size_t i = 0; kv[i] != NULL; i += 2) {
		if (kv[i + 1] == NULL)
			continue;
		if (n > 0)
			out[n++] = '&';
		n += oauth_proto_escape(kv[i], out + n);
		out[n++] = '=';
		n += oauth_proto_escape(kv[i + 1], out + n);
	}
	out[n] = '\0';
	return out;
}

void
oauth_proto_b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tab[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = tab[v & 63];
	}
	out[o] = '\0';
}

void
oauth_proto_pkce_challenge(const char *verifier, char *out, size_t outlen)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	if (outlen < 44) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	SHA256((const unsigned char *)verifier, strlen(verifier), md);
	oauth_proto_b64url(md, sizeof(md), out);
}

/* oauth_proto_unhex: a hex digit's value, or -1. */
static int
oauth_proto_unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *
oauth_proto_query_param(const char *url, const char *name)
{
	const char *q = strchr(url, '?'), *p, *end;
	size_t nl = strlen(name);

	q = q ? q + 1 : url;
	end = q + strcspn(q, "#");
	for (p = q; p < end; ) {
		size_t len = strcspn(p, "&#");

		if (p + len > end)
			len = (size_t)(end - p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			char *v = xmalloc(len - nl), *o = v;

			for (const char *s = p + nl + 1; s < p + len; s++) {
				int h, l;

				if (*s == '+')
					*o++ = ' ';
				else if (*s == '%' && s + 2 < p + len &&
				    (h = oauth_proto_unhex(s[1])) >= 0 &&
				    (l = oauth_proto_unhex(s[2])) >= 0) {
					*o++ = (char)(h << 4 | l);
					s += 2;
				} else
					*o++ = *s;
			}
			*o = '\0';
			return v;
		}
		p += len;
		if (*p == '&')
			p++;
		else
			break;
	}
	return NULL;
}
