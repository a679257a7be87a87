/*
 * auth: the Cyrus SASL client behind the upstream session's AUTH command.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "auth.h"
#include "log.h"
#include "xmalloc.h"

/* SASL's callback table takes every callback as int (*)(void). */
#define AUTH_CB(f)	((int (*)(void))(void (*)(void))(f))

struct auth {
	sasl_conn_t	*conn;
	char		*user;
	sasl_secret_t	*secret;
	sasl_callback_t	 cbs[5];
};

/* auth_log: SASL's own messages, into our log at debug (they may name the user). */
static int
auth_log(void *ctx, int level, const char *msg)
{
	log_debug("sasl: %s", msg);
	return SASL_OK;
}

/*
 * Client plugins relayd can use: those that log in with a name and a password. The
 * others (sasldb, which drags in Berkeley DB; anonymous; Kerberos and OTP ones) are
 * not loaded: they would only cost memory in every relayd. (The inbound AUTH server,
 * smtp_auth.c, does PLAIN and LOGIN itself and needs none.)
 */
static const char *const auth_plugins[] = {
	"libplain.", "liblogin.", "libcrammd5.", "libdigestmd5.", "libscram.",
};

static int
auth_plugin_filter(void *ctx, const char *file, sasl_verify_type_t type)
{
	const char *base = strrchr(file, '/');

	if (type != SASL_VRFY_PLUGIN)
		return SASL_OK;
	base = base ? base + 1 : file;
	for (size_t i = 0; i < sizeof(auth_plugins) / sizeof(auth_plugins[0]); i++)
		if (strncmp(base, auth_plugins[i], strlen(auth_plugins[i])) == 0)
			return SASL_OK;
	return SASL_CONTINUE;	/* skip this one */
}

int
auth_init(void)
{
	static sasl_callback_t global[] = {
		{ SASL_CB_LOG, AUTH_CB(auth_log), NULL },
		{ SASL_CB_VERIFYFILE, AUTH_CB(auth_plugin_filter), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	int r = sasl_client_init(global);

	if (r != SASL_OK) {
		log_err("sasl: client initialisation failed: %s", sasl_errstring(r, NULL, NULL));
		return -1;
	}
	return 0;
}

/* auth_cb_user: SASL asks for the authentication and authorization names. */
static int
auth_cb_user(void *ctx, int id, const char **result, unsigned *len)
{
	struct auth *a = ctx;

	if (id == SASL_CB_USER) {	/* authorization id: the same as the login */
		*result = "";
		if (len)
			*len = 0;
		return SASL_OK;
	}
	*result = a->user;
	if (len)
		*len = (unsigned)strlen(a->user);
	return SASL_OK;
}

/* auth_cb_pass: SASL asks for the password. */
static int
auth_cb_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
	struct auth *a = ctx;

	*psecret = a->secret;
	return SASL_OK;
}

struct auth *
auth_new(const char *host, const char *user, const char *password)
{
	struct auth *a = xcalloc(1, sizeof(*a));
	size_t plen = strlen(password);
	sasl_security_properties_t sp = { 0 };
	sasl_ssf_t ext = 256;	/* the session is protected by TLS */
	int r;

	a->user = xstrdup(user);
	a->secret = xcalloc(1, sizeof(sasl_secret_t) + plen + 1);
	a->secret->len = plen;
	memcpy(a->secret->data, password, plen);
	a->cbs[0] = (sasl_callback_t){ SASL_CB_USER, AUTH_CB(auth_cb_user), a };
	a->cbs[1] = (sasl_callback_t){ SASL_CB_AUTHNAME, AUTH_CB(auth_cb_user), a };
	a->cbs[2] = (sasl_callback_t){ SASL_CB_PASS, AUTH_CB(auth_cb_pass), a };
	a->cbs[3] = (sasl_callback_t){ SASL_CB_LIST_END, NULL, NULL };
	r = sasl_client_new("smtp", host, NULL, NULL, a->cbs, 0, &a->conn);
	if (r != SASL_OK) {
		log_err("sasl: cannot start a client for %s: %s", host,
		    sasl_errstring(r, NULL, NULL));
		a->conn = NULL;
		return a;
	}
	/* No security layer (max_ssf 0): TLS below already protects the session. */
	sp.maxbufsize = 0;
	sp.min_ssf = 0;
	sp.max_ssf = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS;
	sasl_setprop(a->conn, SASL_SEC_PROPS, &sp);
	sasl_setprop(a->conn, SASL_SSF_EXTERNAL, &ext);
	return a;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	if (a->conn != NULL)
		sasl_dispose(&a->conn);
	explicit_bzero(a->secret->data, a->secret->len);
	free(a->secret);
	free(a->user);
	free(a);
}

/* auth_encode: base64 of n octets as a new string; "=" for none (RFC 4954 4). */
static char *
auth_encode(const char *out, unsigned n)
{
	unsigned cap = (n + 2) / 3 * 4 + 1, len;
	char *b;

	if (n == 0)
		return xstrdup("=");
	b = xmalloc(cap);
	if (sasl_encode64(out, n, b, cap, &len) != SASL_OK) {
		free(b);
		return NULL;
	}
	return b;
}

/* auth_mechlist: the server's list without mechanisms needing other credentials. */
static char *
auth_mechlist(const char *list)
{
	char *copy = xstrdup(list), *out = xcalloc(1, strlen(list) + 1), *tok, *save;

	for (tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		/* Kerberos and OAuth need tickets or tokens, not a password. */
		if (strcasecmp(tok, "GSSAPI") == 0 || strncasecmp(tok, "GS2-", 4) == 0 ||
		    strcasecmp(tok, "XOAUTH2") == 0 || strcasecmp(tok, "OAUTHBEARER") == 0 ||
		    strcasecmp(tok, "EXTERNAL") == 0 || strcasecmp(tok, "ANONYMOUS") == 0)
			continue;
		if (*out)
			strcat(out, " ");
		strcat(out, tok);
	}
	free(copy);
	return out;
}

int
auth_start(struct auth *a, const char *mechlist, const char **mech, char **initial,
    const char **err)
{
	const char *out = NULL;
	unsigned outlen = 0;
	char *list;
	int r;

	*initial = NULL;
	if (a->conn == NULL) {
		*err = "SASL client unavailable";
		return -1;
	}
	list = auth_mechlist(mechlist);
	r = sasl_client_start(a->conn, list, NULL, &out, &outlen, mech);
	free(list);
	if (r != SASL_OK && r != SASL_CONTINUE) {
		*err = r == SASL_NOMECH ? "no AUTH mechanism offered by the server is usable "
		    "with a password (is the SASL plugin package libsasl2-modules installed?)" :
		    sasl_errstring(r, NULL, NULL);
		return -1;
	}
	if (out != NULL || r == SASL_OK)
		*initial = auth_encode(out, outlen);
	return 0;
}

int
auth_step(struct auth *a, const char *challenge, char **response, const char **err)
{
	size_t clen = strlen(challenge);
	char *in = xmalloc(clen + 1);
	const char *out = NULL;
	unsigned inlen = 0, outlen = 0;
	int r;

	*response = NULL;
	if (sasl_decode64(challenge, (unsigned)clen, in, (unsigned)clen + 1, &inlen)
	    != SASL_OK) {
		free(in);
		*err = "the server sent a challenge that is not base64";
		return -1;
	}
	r = sasl_client_step(a->conn, in, inlen, NULL, &out, &outlen);
	free(in);
	if (r != SASL_OK && r != SASL_CONTINUE) {
		*err = sasl_errstring(r, NULL, NULL);
		return -1;
	}
	if ((*response = auth_encode(out, outlen)) == NULL) {
		*err = "cannot encode the SASL response";
		return -1;
	}
	if (strcmp(*response, "=") == 0)	/* a step answer is empty, not "=" */
		(*response)[0] = '\0';
	return 0;
}
