/*
 * upstream_probe: the findings of relayctl test ACCOUNT, as JSON (see the header).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "jsonstr.h"
#include "upstream_probe.h"
#include "xmalloc.h"

struct upstream_probe {
	json_t			*info;
	upstream_probe_fn	 done;
	void			*arg;
};

struct upstream_probe *
upstream_probe_new(const char *account, const char *host, int port, upstream_probe_fn done,
    void *arg)
{
	struct upstream_probe *p = xcalloc(1, sizeof(*p));

	p->info = json_pack("{s:o, s:o, s:i, s:o, s:n, s:n, s:[], s:n, s:b, s:n, s:n}",
	    "account", jsonstr_new(account), "server", jsonstr_new(host), "port", port,
	    "relay", jsonstr_new(host), "greeting", "tls", "ehlo", "auth_mechanism", "ok", 0,
	    "error", "result");
	p->done = done;
	p->arg = arg;
	return p;
}

void
upstream_probe_relay(struct upstream_probe *p, const char *relay)
{
	json_object_set_new(p->info, "relay", jsonstr_new(relay));
}

void
upstream_probe_greeting(struct upstream_probe *p, const char *text)
{
	json_object_set_new(p->info, "greeting", jsonstr_new(text));
}

/* upstream_probe_name: an X509 name as one line ("CN=smtp.mail.ru, O=..."). */
static json_t *
upstream_probe_name(X509_NAME *name)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s;
	long n;
	json_t *v;

	if (b == NULL || name == NULL) {
		BIO_free(b);
		return json_null();
	}
	X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	n = BIO_get_mem_data(b, &s);
	v = jsonstr_newn(s, n > 0 ? (size_t)n : 0);
	BIO_free(b);
	return v;
}

void
upstream_probe_tls(struct upstream_probe *p, SSL *ssl)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	json_t *t = json_pack("{s:s, s:s}", "version", SSL_get_version(ssl), "cipher",
	    SSL_get_cipher_name(ssl));
	struct tm tm;

	if (cert != NULL) {
		json_object_set_new(t, "subject", upstream_probe_name(X509_get_subject_name(cert)));
		json_object_set_new(t, "issuer", upstream_probe_name(X509_get_issuer_name(cert)));
		if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
			json_object_set_new(t, "not_after", json_integer((json_int_t)timegm(&tm)));
		X509_free(cert);
	}
	json_object_set_new(p->info, "tls", t);
}

void
upstream_probe_ehlo(struct upstream_probe *p, const char *keyword)
{
	if (keyword == NULL)	/* after STARTTLS: what was said in clear does not count */
		json_object_set_new(p->info, "ehlo", json_array());
	else
		json_array_append_new(json_object_get(p->info, "ehlo"), jsonstr_new(keyword));
}

void
upstream_probe_auth(struct upstream_probe *p, const char *mechanism)
{
	json_object_set_new(p->info, "auth_mechanism", jsonstr_new(mechanism));
}

void
upstream_probe_ok(struct upstream_probe *p, const char *result)
{
	json_object_set_new(p->info, "ok", json_true());
	json_object_set_new(p->info, "result", jsonstr_new(result));
}

void
upstream_probe_failed(struct upstream_probe *p, const char *why)
{
	if (json_is_true(json_object_get(p->info, "ok")))
		return;		/* trouble after a good AUTH (at QUIT) changes nothing */
	json_object_set_new(p->info, "error", jsonstr_new(why));
}

void
upstream_probe_end(struct upstream_probe *p)
{
	if (!json_is_true(json_object_get(p->info, "ok")) &&
	    json_is_null(json_object_get(p->info, "error")))
		json_object_set_new(p->info, "error", json_string("the session ended before "
		    "AUTH"));
	p->done(p->info, p->arg);
	json_decref(p->info);
	free(p);
}
