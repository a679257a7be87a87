/*
 * smtp_auth: the SASL server for inbound AUTH, with our own password check.
 */
#include <sys/stat.h>

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "log.h"
#include "smtp_auth.h"
#include "xmalloc.h"

#define SMTP_AUTH_CB(f)	((int (*)(void))(void (*)(void))(f))

struct smtp_auth {
	sasl_conn_t	*conn;
	char		 buf[1024];	/* the base64 challenge */
};

static char *smtp_auth_file;
static char *smtp_auth_host;

/* smtp_auth_getopt: SASL asks for its options: PLAIN and LOGIN only. */
static int
smtp_auth_getopt(void *ctx, const char *plugin, const char *option, const char **result,
    unsigned *len)
{
	if (strcmp(option, "mech_list") == 0) {
		*result = "PLAIN LOGIN";
		if (len)
			*len = 0;
		return SASL_OK;
	}
	return SASL_FAIL;
}

/* smtp_auth_log: SASL's own messages at debug (they can name a user). */
static int
smtp_auth_log(void *ctx, int level, const char *msg)
{
	log_debug("sasl server: %s", msg);
	return SASL_OK;
}

/*
 * smtp_auth_checkpass: is pass the password of user in the users file? Reads the
 * file on every login, so edits take effect at once; it is small.
 */
static int
smtp_auth_checkpass(sasl_conn_t *conn, void *ctx, const char *user, const char *pass,
    unsigned passlen, struct propctx *propctx)
{
	struct crypt_data cd;
	char line[1024], *pw = xstrndup(pass, passlen);
	int ok = 0;
	FILE *fp = fopen(smtp_auth_file, "r");

	if (fp == NULL) {
		log_err("smtp auth: cannot read %s", smtp_auth_file);
		free(pw);
		return SASL_FAIL;
	}
	while (!ok && fgets(line, sizeof(line), fp) != NULL) {
		char *colon = strchr(line, ':'), *hash;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || colon == NULL)
			continue;
		*colon = '\0';
		hash = colon + 1;
		hash[strcspn(hash, ":")] = '\0';	/* passwd-style: more fields may follow */
		if (strcmp(line, user) != 0 || hash[0] != '$')
			continue;
		memset(&cd, 0, sizeof(cd));
		char *got = crypt_r(pw, hash, &cd);
		ok = got != NULL && got[0] != '*' && strcmp(got, hash) == 0;
		explicit_bzero(&cd, sizeof(cd));
	}
	fclose(fp);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(pw, passlen);
	free(pw);
	return ok ? SASL_OK : SASL_BADAUTH;
}

int
smtp_auth_init(const char *users_file, const char *hostname)
{
	static sasl_callback_t cbs[] = {
		{ SASL_CB_GETOPT, SMTP_AUTH_CB(smtp_auth_getopt), NULL },
		{ SASL_CB_LOG, SMTP_AUTH_CB(smtp_auth_log), NULL },
		{ SASL_CB_SERVER_USERDB_CHECKPASS, SMTP_AUTH_CB(smtp_auth_checkpass), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	int r;

	free(smtp_auth_file);
	free(smtp_auth_host);
	smtp_auth_file = xstrdup(users_file);
	smtp_auth_host = xstrdup(hostname);
	if ((r = sasl_server_init(cbs, "relayd")) != SASL_OK) {
		log_err("smtp auth: SASL server initialisation failed: %s",
		    sasl_errstring(r, NULL, NULL));
		return -1;
	}
	return 0;
}

struct smtp_auth *
smtp_auth_new(void)
{
	struct smtp_auth *a = xcalloc(1, sizeof(*a));
	sasl_security_properties_t sp = { .maxbufsize = 0, .min_ssf = 0, .max_ssf = 0 };
	sasl_ssf_t ext = 256;	/* offered only over TLS */
	int r;

	r = sasl_server_new("smtp", smtp_auth_host, NULL, NULL, NULL, NULL, 0, &a->conn);
	if (r != SASL_OK) {
		log_err("smtp auth: cannot start a SASL exchange: %s",
		    sasl_errstring(r, NULL, NULL));
		free(a);
		return NULL;
	}
	sasl_setprop(a->conn, SASL_SEC_PROPS, &sp);
	sasl_setprop(a->conn, SASL_SSF_EXTERNAL, &ext);
	return a;
}

void
smtp_auth_free(struct smtp_auth *a)
{
	if (a == NULL)
		return;
	sasl_dispose(&a->conn);
	free(a);
}

/* smtp_auth_result: what a SASL result means for the session. */
static enum smtp_auth_status
smtp_auth_result(struct smtp_auth *a, int r, const char *out, unsigned outlen,
    const char **challenge)
{
	unsigned len;

	if (r == SASL_CONTINUE) {
		if (sasl_encode64(out, outlen, a->buf, sizeof(a->buf), &len) != SASL_OK)
			return SMTP_AUTH_BADARG;
		*challenge = a->buf;
		return SMTP_AUTH_CONTINUE;
	}
	if (r == SASL_OK)
		return SMTP_AUTH_OK;
	if (r == SASL_NOMECH || r == SASL_BADPROT || r == SASL_BADPARAM)
		return SMTP_AUTH_BADARG;
	return SMTP_AUTH_FAIL;
}

/* smtp_auth_decode: base64 from the client into buf; "=" is empty. -1 if invalid. */
static int
smtp_auth_decode(const char *in, char *buf, size_t len, unsigned *outlen)
{
	if (strcmp(in, "=") == 0) {
		*outlen = 0;
		return 0;
	}
	return sasl_decode64(in, (unsigned)strlen(in), buf, (unsigned)len, outlen) == SASL_OK ?
	    0 : -1;
}

enum smtp_auth_status
smtp_auth_start(struct smtp_auth *a, const char *mech, const char *initial,
    const char **challenge)
{
	char in[1024];
	unsigned inlen = 0, outlen = 0;
	const char *out = NULL;
	int r;

	if (strcasecmp(mech, "PLAIN") != 0 && strcasecmp(mech, "LOGIN") != 0)
		return SMTP_AUTH_BADARG;
	if (initial != NULL && smtp_auth_decode(initial, in, sizeof(in), &inlen) == -1)
		return SMTP_AUTH_BADARG;
	r = sasl_server_start(a->conn, mech, initial ? in : NULL, inlen, &out, &outlen);
	explicit_bzero(in, sizeof(in));
	return smtp_auth_result(a, r, out, outlen, challenge);
}

enum smtp_auth_status
smtp_auth_step(struct smtp_auth *a, const char *line, const char **challenge)
{
	char in[1024];
	unsigned inlen = 0, outlen = 0;
	const char *out = NULL;
	int r;

	if (strcmp(line, "*") == 0 || smtp_auth_decode(line, in, sizeof(in), &inlen) == -1)
		return SMTP_AUTH_BADARG;	/* cancelled (RFC 4954 4), or not base64 */
	r = sasl_server_step(a->conn, in, inlen, &out, &outlen);
	explicit_bzero(in, sizeof(in));
	return smtp_auth_result(a, r, out, outlen, challenge);
}

const char *
smtp_auth_user(struct smtp_auth *a)
{
	const void *user = NULL;

	if (sasl_getprop(a->conn, SASL_USERNAME, &user) != SASL_OK)
		return "?";
	return user;
}
