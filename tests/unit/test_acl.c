/*
 * test_acl: allow_networks parsing and matching as a table.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "acl.h"
#include "t.h"

static const struct {
	const char	*net;		/* NULL: only the address tests below */
	int		 valid;
} parse_cases[] = {
	{ "192.168.1.0/24", 1 }, { "10.0.0.5", 1 }, { "0.0.0.0/0", 1 }, { "::1", 1 },
	{ "2001:db8::/32", 1 }, { "192.168.1.0/33", 0 }, { "2001:db8::/129", 0 },
	{ "192.168.1.0/", 0 }, { "192.168.1.0/-1", 0 }, { "192.168.1.0/2x", 0 },
	{ "host.example", 0 }, { "", 0 }, { "1.2.3.4/+8", 0 },
};

static const struct {
	const char	*net;
	const char	*addr;
	int		 match;
} match_cases[] = {
	{ "192.168.1.0/24", "192.168.1.77", 1 },
	{ "192.168.1.0/24", "192.168.2.1", 0 },
	{ "192.168.1.77/24", "192.168.1.1", 1 },	/* host bits ignored */
	{ "10.0.0.5", "10.0.0.5", 1 },
	{ "10.0.0.5", "10.0.0.6", 0 },
	{ "172.16.0.0/12", "172.31.255.255", 1 },
	{ "172.16.0.0/12", "172.32.0.1", 0 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "192.168.1.0/24", "::ffff:192.168.1.9", 1 },	/* mapped IPv4 */
	{ "2001:db8::/32", "2001:db8:1::5", 1 },
	{ "2001:db8::/32", "2001:db9::5", 0 },
	{ "192.168.1.0/24", "2001:db8::1", 0 },		/* other family */
	{ "fe80::/10", "febf::1", 1 },
	{ "fe80::/10", "fec0::1", 0 },
};

/* sa_of: a sockaddr for an address literal. */
static struct sockaddr *
sa_of(const char *s, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return (struct sockaddr *)ss;
}

int
main(void)
{
	struct acl_net net;
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++)
		CHECK((acl_parse(parse_cases[i].net, &net) == 0) == parse_cases[i].valid,
		    "parse \"%s\": want %s", parse_cases[i].net,
		    parse_cases[i].valid ? "valid" : "invalid");
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		CHECK(acl_parse(match_cases[i].net, &net) == 0, "parse %s", match_cases[i].net);
		CHECK(acl_match(&net, 1, sa_of(match_cases[i].addr, &ss)) == match_cases[i].match,
		    "%s in %s: want %d", match_cases[i].addr, match_cases[i].net,
		    match_cases[i].match);
	}
	CHECK(acl_is_loopback(sa_of("127.0.0.1", &ss)), "127.0.0.1 is loopback");
	CHECK(acl_is_loopback(sa_of("127.8.9.10", &ss)), "127/8 is loopback");
	CHECK(acl_is_loopback(sa_of("::1", &ss)), "::1 is loopback");
	CHECK(acl_is_loopback(sa_of("::ffff:127.0.0.1", &ss)), "mapped 127.0.0.1 is loopback");
	CHECK(!acl_is_loopback(sa_of("192.168.1.1", &ss)), "192.168.1.1 is not loopback");
	CHECK(!acl_is_loopback(sa_of("::2", &ss)), "::2 is not loopback");
	T_DONE();
}
