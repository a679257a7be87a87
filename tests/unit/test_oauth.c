/*
 * test_oauth: the pure parts of OAuth login, as tables: the XOAUTH2 and OAUTHBEARER
 * responses (auth.c), the token and device answers, forms, PKCE and redirect queries
 * (oauth_proto.c), the token file (oauth_file.c) and which endpoint URLs are allowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "oauth_file.h"
#include "oauth_proto.h"
#include "t.h"

static void
test_responses(void)
{
	static const struct {
		enum config_auth m;
		const char *user, *host;
		int port;
		const char *token, *want;
	} cases[] = {
		/* user=shop@contoso.com^Aauth=Bearer ya29.abc^A^A */
		{ CONFIG_AUTH_XOAUTH2, "shop@contoso.com", "smtp.x.org", 587, "ya29.abc",
		  "dXNlcj1zaG9wQGNvbnRvc28uY29tAWF1dGg9QmVhcmVyIHlhMjkuYWJjAQE=" },
		/* n,a=a=3Db=2Cc@x.org,^Ahost=smtp.x.org^Aport=587^Aauth=Bearer T0k^A^A */
		{ CONFIG_AUTH_OAUTHBEARER, "a=b,c@x.org", "smtp.x.org", 587, "T0k",
		  "bixhPWE9M0RiPTJDY0B4Lm9yZywBaG9zdD1zbXRwLngub3JnAXBvcnQ9NTg3AWF1dGg9QmVhcmVy"
		  "IFQwawEB" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = auth_oauth_response(cases[i].m, cases[i].user, cases[i].host,
		    cases[i].port, cases[i].token);

		CHECK_STR(got, cases[i].want, cases[i].user);
		free(got);
	}
}

static void
test_error(void)
{
	static const struct {
		const char *challenge, *want;
		int rc;
	} cases[] = {
		{ "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=",
		  "{\"status\":\"401\",\"schemes\":\"bearer\"}", 0 },
		{ "AQID", "   ", 0 },		/* control characters become spaces */
		{ "not base64!", "", -1 },
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = auth_oauth_error(cases[i].challenge, out, sizeof(out));

		CHECK(rc == cases[i].rc, "%s: rc %d", cases[i].challenge, rc);
		if (rc == 0)
			CHECK_STR(out, cases[i].want, cases[i].challenge);
	}
}

static void
test_token(void)
{
	static const struct {
		const char *body;
		int rc;
		const char *access, *refresh, *error;
		long long expires;
	} cases[] = {
		{ "{\"access_token\":\"A1\",\"token_type\":\"Bearer\",\"expires_in\":3599,"
		  "\"refresh_token\":\"R2\",\"scope\":\"x\"}", 0, "A1", "R2", NULL, 3599 },
		{ "{\"access_token\":\"A1\",\"expires_in\":\"3600\"}", 0, "A1", NULL, NULL, 3600 },
		{ "{\"access_token\":\"A1\"}", 0, "A1", NULL, NULL, 0 },
		{ "{\"access_token\":\"A1\",\"expires_in\":-5}", 0, "A1", NULL, NULL, 0 },
		{ "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS70008: expired\"}",
		  0, NULL, NULL, "invalid_grant", 0 },
		{ "{\"error\":\"authorization_pending\"}", 0, NULL, NULL,
		  "authorization_pending", 0 },
		/* an error wins over a token sent beside it */
		{ "{\"error\":\"slow_down\",\"access_token\":\"A1\"}", 0, NULL, NULL, "slow_down",
		  0 },
		{ "{\"token_type\":\"Bearer\"}", -1, NULL, NULL, NULL, 0 },
		/* a token that would break the token file's line, or the AUTH string */
		{ "{\"access_token\":\"A\\nrefresh_token: X\"}", -1, NULL, NULL, NULL, 0 },
		{ "{\"access_token\":\"A\",\"refresh_token\":\"R\\u0001\"}", -1, NULL, NULL,
		  NULL, 0 },
		{ "{\"access_token\":\"\"}", -1, NULL, NULL, NULL, 0 },
		{ "[1,2]", -1, NULL, NULL, NULL, 0 },
		{ "<html>502 Bad Gateway</html>", -1, NULL, NULL, NULL, 0 },
		{ "", -1, NULL, NULL, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct oauth_proto_token t;
		int rc = oauth_proto_parse_token(cases[i].body, strlen(cases[i].body), &t);

		CHECK(rc == cases[i].rc, "%s: rc %d", cases[i].body, rc);
#define SAME(got, want) CHECK(((got) == NULL && (want) == NULL) || ((got) && (want) && \
	strcmp((got), (want)) == 0), "%s: %s: got %s", cases[i].body, #got, \
	(got) ? (got) : "NULL")
		SAME(t.access_token, cases[i].access);
		SAME(t.refresh_token, cases[i].refresh);
		SAME(t.error, cases[i].error);
#undef SAME
		CHECK(t.expires_in == cases[i].expires, "%s: expires_in %lld", cases[i].body,
		    t.expires_in);
		oauth_proto_token_clear(&t);
	}
}

static void
test_device(void)
{
	static const struct {
		const char *body;
		int rc, interval;
		const char *uri;
	} cases[] = {
		{ "{\"device_code\":\"D\",\"user_code\":\"ABCD-EFGH\",\"verification_uri\":"
		  "\"https://microsoft.com/devicelogin\",\"expires_in\":900,\"interval\":5}",
		  0, 5, "https://microsoft.com/devicelogin" },
		/* Google's name for it */
		{ "{\"device_code\":\"D\",\"user_code\":\"U\",\"verification_url\":"
		  "\"https://www.google.com/device\",\"interval\":\"2\"}", 0, 2,
		  "https://www.google.com/device" },
		{ "{\"device_code\":\"D\",\"user_code\":\"U\",\"verification_uri\":\"https://v\","
		  "\"interval\":0}", 0, 5, "https://v" },
		{ "{\"device_code\":\"D\",\"verification_uri\":\"https://v\"}", -1, 5, NULL },
		{ "{\"error\":\"invalid_client\"}", -1, 5, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct oauth_proto_device d;
		int rc = oauth_proto_parse_device(cases[i].body, strlen(cases[i].body), &d);

		CHECK(rc == cases[i].rc, "%s: rc %d", cases[i].body, rc);
		if (rc == 0) {
			CHECK(d.interval == cases[i].interval, "%s: interval %d", cases[i].body,
			    d.interval);
			CHECK_STR(d.verification_uri, cases[i].uri, cases[i].body);
		}
		oauth_proto_device_clear(&d);
	}
}

static void
test_form(void)
{
	const char *kv1[] = { "grant_type", "refresh_token", "refresh_token", "0.A/b+c=d&e",
	    "client_id", "id", "client_secret", NULL, NULL, NULL };
	const char *kv2[] = { "scope", "https://mail.google.com/ offline_access", NULL, NULL };
	char *f;

	f = oauth_proto_form(kv1);
	CHECK_STR(f, "grant_type=refresh_token&refresh_token=0.A%2Fb%2Bc%3Dd%26e&client_id=id",
	    "form with a NULL value");
	free(f);
	f = oauth_proto_form(kv2);
	CHECK_STR(f, "scope=https%3A%2F%2Fmail.google.com%2F%20offline_access", "form scope");
	free(f);
}

static void
test_pkce(void)
{
	char out[64];

	/* RFC 7636 appendix B */
	oauth_proto_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out,
	    sizeof(out));
	CHECK_STR(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "RFC 7636 B");
}

static void
test_query(void)
{
	static const struct {
		const char *url, *name, *want;
	} cases[] = {
		{ "http://127.0.0.1:5000/?code=abc%2Fd&state=xyz", "code", "abc/d" },
		{ "http://127.0.0.1:5000/?code=abc%2Fd&state=xyz", "state", "xyz" },
		{ "/?state=s&code=a+b#frag", "code", "a b" },
		{ "code=only", "code", "only" },
		{ "http://x/?error=access_denied&error_description=no", "error", "access_denied" },
		{ "http://x/?xcode=1&code=2", "code", "2" },
		{ "http://x/?code=1#code=2", "code", "1" },
		{ "http://x/?state=1", "code", NULL },
		{ "http://x/?code=%4", "code", "%4" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = oauth_proto_query_param(cases[i].url, cases[i].name);

		if (cases[i].want == NULL)
			CHECK(got == NULL, "%s: got %s", cases[i].url, got);
		else
			CHECK(got != NULL && strcmp(got, cases[i].want) == 0, "%s %s: got %s",
			    cases[i].url, cases[i].name, got ? got : "NULL");
		free(got);
	}
}

static void
test_file(void)
{
	static const struct {
		const char *text;
		int rc;
		const char *refresh, *access;
		long long expires;
	} cases[] = {
		{ "relayd-oauth: 1\nrefresh_token: R\naccess_token: A\nexpires_at: 1764880000\n",
		  0, "R", "A", 1764880000 },
		{ "relayd-oauth: 1\r\nrefresh_token: R:x y\r\nfuture: 1\r\n", 0, "R:x y", NULL, 0 },
		{ "relayd-oauth: 2\nrefresh_token: R\n", -1, NULL, NULL, 0 },
		/* fuzz: a control character in the value; the line is not ours */
		{ "relayd-oauth: 1\nrefresh_token: R\rX\n", -1, NULL, NULL, 0 },
		{ "relayd-oauth: 1\nrefresh_token: R\nrefresh_token: S\001\n", 0, "R", NULL, 0 },
		{ "relayd-oauth: 1\naccess_token: A\n", -1, NULL, NULL, 0 },
		{ "", -1, NULL, NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct oauth_file f;
		int rc = oauth_file_decode(cases[i].text, strlen(cases[i].text), &f);

		CHECK(rc == cases[i].rc, "%s: rc %d", cases[i].text, rc);
		if (rc == 0) {
			char *again;
			struct oauth_file g;

			CHECK_STR(f.refresh_token, cases[i].refresh, cases[i].text);
			CHECK((f.access_token == NULL) == (cases[i].access == NULL) &&
			    (f.access_token == NULL || strcmp(f.access_token, cases[i].access) == 0),
			    "%s: access", cases[i].text);
			CHECK((long long)f.expires_at == cases[i].expires, "%s: expires",
			    cases[i].text);
			/* encode, decode: the same */
			again = oauth_file_encode(&f);
			CHECK(oauth_file_decode(again, strlen(again), &g) == 0 &&
			    strcmp(g.refresh_token, f.refresh_token) == 0 &&
			    g.expires_at == f.expires_at, "%s: round trip", cases[i].text);
			oauth_file_clear(&g);
			free(again);
		}
		oauth_file_clear(&f);
	}
}

static void
test_urls(void)
{
	static const struct {
		const char *url;
		int want;
	} cases[] = {
		{ "https://login.microsoftonline.com/common/oauth2/v2.0/token", 1 },
		{ "HTTPS://oauth2.googleapis.com/token", 1 },
		{ "http://127.0.0.1:8080/token", 1 },
		{ "http://[::1]:8080/token", 1 },
		{ "http://localhost/token", 1 },
		{ "http://oauth.example.org/token", 0 },
		{ "http://127.0.0.1@evil.example/token", 0 },
		{ "https:///token", 0 },
		{ "ftp://127.0.0.1/x", 0 },
		{ "file:///etc/passwd", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(config_url_allowed(cases[i].url) == cases[i].want, "%s", cases[i].url);
}

/* The config keys: auth, oauth { ... } over a preset's endpoints. */
static void
test_config(void)
{
#define OA(extra) "accounts = ( { name = \"o\"; provider = \"outlook\"; " \
	"username = \"a@contoso.com\";\n" extra " } );\n"
	static const struct {
		const char *text, *want;	/* want: NULL loads, else in the error */
		const char *token_url, *token_file;
	} cases[] = {
		{ OA("auth = \"xoauth2\"; oauth = { client_id = \"c\"; };"), NULL,
		  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
		  "/var/spool/relayd/oauth/o" },
		{ OA("auth = \"oauthbearer\"; oauth = { token_command = \"echo t\"; };"), NULL,
		  "https://login.microsoftonline.com/common/oauth2/v2.0/token", NULL },
		{ OA("auth = \"xoauth2\"; oauth = { client_id = \"c\"; token_file = \"/t/f\";\n"
		  "token_url = \"http://127.0.0.1:9/token\"; };"), NULL,
		  "http://127.0.0.1:9/token", "/t/f" },
		{ OA("auth = \"xoauth2\";"), "needs an oauth group with client_id", NULL, NULL },
		{ OA("auth = \"token\"; password = \"p\";"), "\"token\" is not a login method",
		  NULL, NULL },
		{ OA("auth = \"xoauth2\"; oauth = { client_id = \"c\";\n"
		  "token_url = \"http://oauth.example.org/token\"; };"),
		  ":3: accounts[0].oauth.token_url: \"http://oauth.example.org/token\" "
		  "must be an https:// URL", NULL, NULL },
		{ OA("password = \"p\"; oauth = { client_id = \"c\"; };"),
		  "needs auth = \"xoauth2\" or \"oauthbearer\"", NULL, NULL },
		{ OA("auth = \"xoauth2\"; oauth = { client_id = \"c\"; secret = \"s\"; };"),
		  "oauth.secret: unknown key", NULL, NULL },
		{ "accounts = ( { name = \"r\"; provider = \"rambler\"; username = \"a@r.ru\";\n"
		  "auth = \"xoauth2\"; oauth = { client_id = \"c\"; }; } );\n",
		  "needs an oauth group with client_id (and token_url", NULL, NULL },
		/* the watcher of an OAuth account needs no password */
		{ OA("auth = \"xoauth2\"; oauth = { client_id = \"c\"; }; bounces = { };"), NULL,
		  "https://login.microsoftonline.com/common/oauth2/v2.0/token", NULL },
	};
#undef OA

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[] = "/tmp/test_oauth.XXXXXX", *buf = NULL;
		size_t len = 0;
		int fd = mkstemp(path);
		FILE *err = open_memstream(&buf, &len);
		struct config *c;

		if (fd == -1 || write(fd, cases[i].text, strlen(cases[i].text)) < 0) {
			CHECK(0, "cannot write %s", path);
			continue;
		}
		close(fd);
		c = config_load_report(path, err);
		fclose(err);
		unlink(path);
		if (cases[i].want == NULL) {
			CHECK(c != NULL, "%s: refused: %s", cases[i].text, buf);
			if (c != NULL && cases[i].token_url)
				CHECK_STR(c->accounts[0].oauth.token_url, cases[i].token_url,
				    cases[i].text);
			if (c != NULL && cases[i].token_file)
				CHECK_STR(c->accounts[0].oauth.token_file, cases[i].token_file,
				    cases[i].text);
		} else
			CHECK(c == NULL && strstr(buf, cases[i].want) != NULL,
			    "%s: want error \"%s\", got \"%s\"", cases[i].text, cases[i].want, buf);
		config_free(c);
		free(buf);
	}
}

int
main(void)
{
	test_config();
	test_responses();
	test_error();
	test_token();
	test_device();
	test_form();
	test_pkce();
	test_query();
	test_file();
	test_urls();
	T_DONE();
}
