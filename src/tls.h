/*
 * tls: OpenSSL contexts for the upstream connections. TLS 1.2 or newer, the peer's
 * certificate checked against the system store plus an optional CA file, and the host
 * name (or IP literal) verified. Nothing is sent before a handshake that passed.
 */
#ifndef RELAYD_TLS_H
#define RELAYD_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/*
 * tls_client_ctx: a client context trusting the system store and ca_file (may be
 * NULL). Returns NULL after logging why (an unreadable or invalid ca_file).
 */
SSL_CTX	*tls_client_ctx(const char *ca_file);

/*
 * tls_server_ctx: a server context for inbound STARTTLS with the certificate chain
 * and key files. Returns NULL after logging why.
 */
SSL_CTX	*tls_server_ctx(const char *cert_file, const char *key_file);

/* tls_client_ssl: a connection object for host: SNI for names, host or IP check. */
SSL	*tls_client_ssl(SSL_CTX *, const char *host);

/*
 * tls_failure: a plain description of why a handshake on ssl failed ("certificate
 * verify failed: certificate has expired", "host name mismatch", ...), using the
 * verify result and the OpenSSL error queue (which it clears). Writes into buf.
 */
const char *tls_failure(SSL *, unsigned long ssl_err, char *buf, size_t len);

/* tls_describe: "TLSv1.3 TLS_AES_256_GCM_SHA384" for the log, into buf. */
const char *tls_describe(SSL *, char *buf, size_t len);

#endif
