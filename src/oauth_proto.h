/*
 * oauth_proto: the pure parts of OAuth 2.0 (RFC 6749, 7636, 8628) that relayd and
 * relayctl share: the JSON answers of the token and device endpoints, the form bodies
 * sent to them, PKCE, and the query of a redirect. No I/O: unit-tested and fuzzed.
 */
#ifndef RELAYD_OAUTH_PROTO_H
#define RELAYD_OAUTH_PROTO_H

#include <stddef.h>

/* A token endpoint's answer: a token, or an error (RFC 6749 5.1, 5.2). */
struct oauth_proto_token {
	char		*access_token;	/* NULL in an error answer */
	char		*refresh_token;	/* a rotated one, or NULL (keep the old one) */
	long long	 expires_in;	/* seconds; 0 when not given */
	char		*error;		/* "invalid_grant", "authorization_pending", ... */
	char		*error_description;
};

/*
 * oauth_proto_vschar: are the n octets of s one or more VSCHAR (0x20..0x7e, RFC 6749
 * appendix A), the only characters a token may have?
 */
int	oauth_proto_vschar(const char *s, size_t n);

/*
 * oauth_proto_parse_token: parse body (len octets, not NUL-terminated). Returns 0 with
 * either access_token or error set, or -1 (not JSON, neither, or a token with other
 * characters than VSCHAR: it could not be written to a token file). Fields are newly
 * allocated; free them with oauth_proto_token_clear (also after -1).
 */
int	oauth_proto_parse_token(const char *body, size_t len, struct oauth_proto_token *);
void	oauth_proto_token_clear(struct oauth_proto_token *);

/* oauth_proto_zfree: wipe a secret string and free it (NULL: nothing). */
void	oauth_proto_zfree(char *);

/* A device authorization answer (RFC 8628 3.2). */
struct oauth_proto_device {
	char		*device_code;
	char		*user_code;
	char		*verification_uri;	/* also Google's "verification_url" */
	char		*verification_uri_complete;	/* or NULL */
	int		 interval;		/* seconds between polls; default 5 */
	int		 expires_in;		/* seconds; default 900 */
};

/* oauth_proto_parse_device: as oauth_proto_parse_token; -1 without the required fields. */
int	oauth_proto_parse_device(const char *body, size_t len, struct oauth_proto_device *);
void	oauth_proto_device_clear(struct oauth_proto_device *);

/*
 * oauth_proto_form: an application/x-www-form-urlencoded body from kv, pairs of name
 * and value ending with a NULL name; a pair whose value is NULL is left out. A new
 * string; the caller frees it (it may hold secrets: explicit_bzero first).
 */
char	*oauth_proto_form(const char *const *kv);

/*
 * oauth_proto_pkce_challenge: the S256 code challenge of verifier (RFC 7636 4.2):
 * base64url without padding of its SHA-256, into out (at least 44 octets).
 */
void	oauth_proto_pkce_challenge(const char *verifier, char *out, size_t outlen);

/* oauth_proto_b64url: base64url without padding of n octets into out (4n/3+1 octets). */
void	oauth_proto_b64url(const unsigned char *in, size_t n, char *out);

/*
 * oauth_proto_query_param: the percent-decoded value of name in a URL's query (or a bare
 * query "a=1&b=2"; a fragment is ignored). A new string, or NULL when absent.
 */
char	*oauth_proto_query_param(const char *url, const char *name);

#endif
