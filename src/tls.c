/*
 * tls: client-side TLS setup and plain-language failure reasons.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

SSL_CTX *
tls_client_ctx(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char err[256];

	if (ctx == NULL) {
		log_err("tls: cannot create a context: %s",
		    ERR_error_string(ERR_get_error(), err));
		return NULL;
	}
	/* All the providers require TLS 1.2 or newer (PROVIDERS.md). */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		log_warn("tls: the system certificate store could not be loaded");
	if (ca_file != NULL && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		log_err("tls: cannot load ca_file %s: %s", ca_file,
		    ERR_error_string(ERR_get_error(), err));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *
tls_server_ctx(const char *cert_file, const char *key_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char err[256];

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_err("tls: cannot use tls_cert %s with tls_key %s: %s", cert_file, key_file,
		    ERR_error_string(ERR_get_error(), err));
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL *
tls_client_ssl(SSL_CTX *ctx, const char *host)
{
	unsigned char addr[16];
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1) {
		/* An IP literal: check the certificate's IP addresses; no SNI (RFC 6066 3). */
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	} else {
		SSL_set_tlsext_host_name(ssl, host);
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(ssl, host);
	}
	return ssl;
}

const char *
tls_failure(SSL *ssl, unsigned long ssl_err, char *buf, size_t len)
{
	long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e = ssl_err ? ssl_err : ERR_peek_error();

	if (vr != X509_V_OK) {
		const char *what = X509_verify_cert_error_string(vr);

		if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
			what = "the certificate does not cover the configured host name "
			    "(wrong host; use the name the certificate is for)";
		snprintf(buf, len, "certificate verify failed: %s", what);
	} else if (e != 0 && ERR_GET_LIB(e) == 0 && ERR_GET_REASON(e) == SSL_ERROR_SYSCALL) {
		/* libevent reports a socket failure in the handshake as SSL_get_error's
		 * SSL_ERROR_SYSCALL in the error queue, which OpenSSL would print as
		 * "error:00000005:lib(0)::reason(5)". */
		snprintf(buf, len, "TLS handshake failed: the connection %s during the "
		    "handshake (is this a TLS port? check port and tls)", errno != 0 &&
		    errno != EAGAIN ? strerror(errno) : "was closed by the server");
	} else if (e != 0) {
		char tmp[256];

		ERR_error_string_n(e, tmp, sizeof(tmp));
		snprintf(buf, len, "TLS handshake failed: %s", tmp);
	} else
		snprintf(buf, len, "TLS handshake failed: connection closed by the server");
	ERR_clear_error();
	return buf;
}

const char *
tls_describe(SSL *ssl, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	return buf;
}
