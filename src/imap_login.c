/*
 * imap_login: the IMAP login's commands and answers (imap_login.h has the contract);
 * imap_session.c sends them and reads the replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "config.h"
#include "imap_login.h"
#include "oauth.h"
#include "xmalloc.h"

const char *
imap_login_oauth_mech(const struct config_imap *cfg)
{
	switch (cfg->auth) {
	case CONFIG_AUTH_XOAUTH2:
		return "XOAUTH2";
	case CONFIG_AUTH_OAUTHBEARER:
		return "OAUTHBEARER";
	case CONFIG_AUTH_PASSWORD:
		break;
	}
	return NULL;
}

/*
 * imap_login_oauth: the base64 OAuth response with the account's current token
 * (oauth.c; no network here), or NULL with why (none yet: the session's reconnect
 * delay gives the refresh its time).
 */
static char *
imap_login_oauth(const struct config_imap *cfg, const char *account, char *why,
    size_t len)
{
	const char *token;

	if (oauth_token(account, &token, why, len) != OAUTH_READY)
		return NULL;
	return auth_oauth_response(cfg->auth, cfg->username, cfg->host, cfg->port, token);
}

char *
imap_login_plain(const char *user, const char *password)
{
	size_t ul = strlen(user), pl = strlen(password);
	size_t n = ul + pl + 2;
	unsigned char *raw = xmalloc(n);
	char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);

	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, password, pl);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)n);
	explicit_bzero(raw, n);
	free(raw);
	return b64;
}

char *
imap_login_quoted(const char *str)
{
	char *q = xmalloc(2 * strlen(str) + 3), *p = q;

	*p++ = '"';
	for (; *str != '\0'; str++) {
		if ((unsigned char)*str >= 0x80 || *str == '\r' || *str == '\n') {
			free(q);
			return NULL;
		}
		if (*str == '"' || *str == '\\')
			*p++ = '\\';
		*p++ = *str;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

/* imap_login_wrap: "VERB b64", b64 zeroed and freed; NULL stays NULL. */
static char *
imap_login_wrap(const char *verb, char *b64)
{
	char *cmd;

	if (b64 == NULL)
		return NULL;
	cmd = xasprintf("%s %s", verb, b64);
	explicit_bzero(b64, strlen(b64));
	free(b64);
	return cmd;
}

char *
imap_login_command(struct imap_login *l, const struct config_imap *cfg, const char *account,
    int sasl_ir, int auth_plain, char *why, size_t len)
{
	const char *mech = imap_login_oauth_mech(cfg);
	char *verb, *cmd, *u, *p;

	l->sent = 0;
	if (mech != NULL) {		/* the token, as for SMTP */
		verb = xasprintf("AUTHENTICATE %s", mech);
		if (!sasl_ir)		/* sent on the continuation */
			return verb;
		cmd = imap_login_wrap(verb, imap_login_oauth(cfg, account, why, len));
		free(verb);
		l->sent = cmd != NULL;
		return cmd;
	}
	if (auth_plain && sasl_ir) {	/* RFC 4959: inline */
		l->sent = 1;
		return imap_login_wrap("AUTHENTICATE PLAIN",
		    imap_login_plain(cfg->username, cfg->password));
	}
	if (auth_plain)
		return xstrdup("AUTHENTICATE PLAIN");
	u = imap_login_quoted(cfg->username);
	p = imap_login_quoted(cfg->password);
	cmd = u != NULL && p != NULL ? xasprintf("LOGIN %s %s", u, p) : NULL;
	if (cmd == NULL)
		snprintf(why, len, "the user name or password has characters LOGIN cannot "
		    "carry, and the server does not offer AUTH=PLAIN");
	if (p != NULL)
		explicit_bzero(p, strlen(p));
	free(u);
	free(p);
	return cmd;
}

char *
imap_login_continue(struct imap_login *l, const struct config_imap *cfg, const char *account,
    int auth_plain, char *why, size_t len)
{
	char *line;

	if (imap_login_oauth_mech(cfg) != NULL) {
		/*
		 * Before the response: send it. After it: the server's JSON error, to
		 * which the client answers an empty line (XOAUTH2) or ^A (RFC 7628 3.2.3)
		 * and gets the tagged NO.
		 */
		line = l->sent ? xstrdup(cfg->auth == CONFIG_AUTH_XOAUTH2 ? "" : "AQ==") :
		    imap_login_oauth(cfg, account, why, len);
		l->sent |= line != NULL;
		return line;
	}
	if (auth_plain && !l->sent) {
		l->sent = 1;
		return imap_login_plain(cfg->username, cfg->password);
	}
	return xstrdup("*");	/* a challenge PLAIN does not have: cancel */
}
