/*
 * test_tls: the plain-language reasons tls_failure gives for a failed handshake.
 */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "t.h"
#include "tls.h"

static const struct {
	const char	*name;
	unsigned long	 err;		/* what libevent hands over */
	int		 errnum;	/* errno at the time */
	const char	*want, *never;
} cases[] = {
	{ "closed in the handshake", SSL_ERROR_SYSCALL, 0,
	  "the connection was closed by the server during the handshake", "lib(0)" },
	{ "reset in the handshake", SSL_ERROR_SYSCALL, ECONNRESET,
	  "the connection Connection reset by peer during the handshake", "reason(5)" },
	{ "nothing in the queue", 0, 0, "connection closed by the server", "error:" },
	{ "an OpenSSL error", ERR_PACK(ERR_LIB_SSL, 0, SSL_R_WRONG_VERSION_NUMBER), 0,
	  "wrong version number", "lib(0)" },
};

int
main(void)
{
	char buf[512];

	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS, NULL);	/* as relayd has them */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = cases[i].errnum;
		tls_failure(NULL, cases[i].err, buf, sizeof(buf));
		CHECK(strstr(buf, cases[i].want) != NULL, "%s: \"%s\" lacks \"%s\"",
		    cases[i].name, buf, cases[i].want);
		CHECK(strstr(buf, cases[i].never) == NULL, "%s: \"%s\" has \"%s\"",
		    cases[i].name, buf, cases[i].never);
	}
	T_DONE();
}
