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
#include "oauth.h"
#include "xmalloc.h"

/* SASL's callback table takes every callback as int (*)(void). */
#define AUTH_CB(f)	((int (*)(void))(void (*)(void))(f))

struct auth {
	sasl_conn_t	*conn;
	char		*user;
	sasl_secret_t	*secret;
	sasl_callback_t	 cbs[5];
	/* An OAuth login (method not PASSWORD): no SASL, the response made here. */
	enum config_auth method;
	char		*account;
	char		*oauth_initial;	/* base64; holds the token */
	char		 oauth_error[256];	/* the server's 334 JSON, decoded */
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
	if (a->secret != NULL)
		explicit_bzero(a->secret->data, a->secret->len);
	free(a->secret);
	if (a->oauth_initial != NULL)
		explicit_bzero(a->oauth_initial, strlen(a->oauth_initial));
	free(a->oauth_initial);
	free(a->account);
	free(a->user);
	free(a);
}

/* auth_gs2_name: a user name for the GS2 header: ',' as =2C, '=' as =3D (RFC 5801). */
static char *
auth_gs2_name(const char *user)
{
	char *out = xmalloc(3 * strlen(user) + 1), *o = out;

	for (; *user; user++) {
		if (*user == ',')
			o = memcpy(o, "=2C", 3) + 3;
		else if (*user == '=')
			o = memcpy(o, "=3D", 3) + 3;
		else
			*o++ = *user;
	}
	*o = '\0';
	return out;
}

char *
auth_oauth_response(enum config_auth m, const char *user, const char *host, int port,
    const char *token)
{
	char *raw, *b64, *gs2;
	unsigned cap, len;

	if (m == CONFIG_AUTH_OAUTHBEARER) {
		gs2 = auth_gs2_name(user);
		raw = xasprintf("n,a=%s,\001host=%s\001port=%d\001auth=Bearer %s\001\001", gs2,
		    host, port, token);
		free(gs2);
	} else
		raw = xasprintf("user=%s\001auth=Bearer %s\001\001", user, token);
	cap = (unsigned)(strlen(raw) + 2) / 3 * 4 + 1;
	b64 = xmalloc(cap);
	if (sasl_encode64(raw, (unsigned)strlen(raw), b64, cap, &len) != SASL_OK)
		b64[0] = '\0';
	explicit_bzero(raw, strlen(raw));
	free(raw);
	return b64;
}

int
auth_oauth_error(const char *challenge, char *out, size_t outlen)
{
	size_t clen = strlen(challenge), o = 0;
	char *raw = xmalloc(clen + 1);
	unsigned n = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (sasl_decode64(challenge, (unsigned)clen, raw, (unsigned)clen + 1, &n) != SASL_OK) {
		free(raw);
		return -1;
	}
	for (unsigned i = 0; i < n && o + 1 < outlen; i++)
		out[o++] = raw[i] >= 0x20 && raw[i] < 0x7f ? raw[i] : ' ';
	out[o] = '\0';
	free(raw);
	return 0;
}

struct auth *
auth_new_account(const struct config_account *c, enum outcome_action *act, char *why,
    size_t whylen)
{
	struct auth *a;
	const char *token;

	if (c->auth == CONFIG_AUTH_PASSWORD)
		return auth_new(c->host, c->username, c->password);
	switch (oauth_token(c->name, &token, why, whylen)) {
	case OAUTH_READY:
		break;
	case OAUTH_WAIT:
		*act = OUTCOME_RETRY;
		return NULL;
	case OAUTH_LOGIN:
		*act = OUTCOME_DISABLE;
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->method = c->auth;
	a->account = xstrdup(c->name);
	a->user = xstrdup(c->username);
	a->oauth_initial = auth_oauth_response(c->auth, c->username, c->host, c->port, token);
	return a;
}

enum outcome_action
auth_refused(struct auth *a, enum outcome_action act, const char **detail)
{
	*detail = "";
	if (a == NULL || a->method == CONFIG_AUTH_PASSWORD)
		return act;
	*detail = a->oauth_error;
	if (act == OUTCOME_THROTTLE || act == OUTCOME_FAIL)
		return act;	/* a rule says what this reply is: not the token */
	return oauth_rejected(a->account) ? OUTCOME_RETRY : OUTCOME_DISABLE;
}

void
auth_accepted(struct auth *a)
{
	if (a != NULL && a->method != CONFIG_AUTH_PASSWORD)
		oauth_accepted(a->account);
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
	if (a->method != CONFIG_AUTH_PASSWORD) {
		const char *name = a->method == CONFIG_AUTH_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER";
		char *copy = xstrdup(mechlist), *tok, *save;
		int found = 0;

		for (tok = strtok_r(copy, " ", &save); tok && !found;
		    tok = strtok_r(NULL, " ", &save))
			found = strcasecmp(tok, name) == 0;
		free(copy);
		if (!found) {
			*err = a->method == CONFIG_AUTH_XOAUTH2 ? "the server does not offer "
			    "XOAUTH2 (auth = \"xoauth2\")" : "the server does not offer "
			    "OAUTHBEARER (auth = \"oauthbearer\")";
			return -1;
		}
		*mech = name;
		*initial = xstrdup(a->oauth_initial);
		return 0;
	}
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
	if (a->method != CONFIG_AUTH_PASSWORD) {
		/*
		 * After the initial response a challenge is the server's JSON error; the
		 * protocol wants an empty line (XOAUTH2) or %x01 (RFC 7628 3.2.3), and
		 * the server then answers 535.
		 */
		free(in);
		if (auth_oauth_error(challenge, a->oauth_error, sizeof(a->oauth_error)) == -1)
			snprintf(a->oauth_error, sizeof(a->oauth_error), "(not base64)");
		*response = xstrdup(a->method == CONFIG_AUTH_XOAUTH2 ? "" : "AQ==");
		return 0;
	}
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
