/*
 * test_webhook: the webhook signature, HMAC-SHA256(secret, "t.body") in lower-case
 * hex, against vectors computed independently (Python's hmac module:
 * hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()).
 */
#include <string.h>

#include "t.h"
#include "webhook.h"

static const struct {
	const char	*secret;
	long long	 t;
	const char	*body;
	const char	*want;
} cases[] = {
	{ "whsec_test", 1700000000, "[{\"id\":1}]",
	  "25c2bc2702f3b8165a777920215796540f76c57753be3606eb3794e1d718d654" },
	/* RFC 4231 test case 2's key; "0." before its data */
	{ "Jefe", 0, "what do ya want for nothing?",
	  "37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc" },
	{ "a-much-longer-secret-than-the-block-size-of-sha256-which-is-sixty-four-octets-long",
	  4102444800, "[]", "3a543b0caa7f5d411895f137c11db5c07c75e91d10d291a0330e5698e6b0e4f1" },
};

int
main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char hex[65];

		CHECK(webhook_sign(cases[i].secret, cases[i].t, cases[i].body,
		    strlen(cases[i].body), hex) == 0, "sign %zu", i);
		CHECK_STR(hex, cases[i].want, cases[i].body);
	}
	T_DONE();
}
