/*
 * acl: CIDR network lists for allow_networks.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "acl.h"

int
acl_parse(const char *s, struct acl_net *net)
{
	char buf[64], *slash, *end;
	int max;
	long p;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		max = 128;
	} else
		return -1;
	p = max;
	if (slash != NULL) {
		if (*slash == '\0' || *slash == '-' || *slash == '+')
			return -1;
		p = strtol(slash, &end, 10);
		if (*end != '\0' || p < 0 || p > max)
			return -1;
	}
	net->prefix = (int)p;
	for (int bit = net->prefix; bit < max; bit++)	/* clear host bits */
		net->addr[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	return 0;
}

/* acl_addr: sa's family and address bytes, IPv4-mapped IPv6 taken as IPv4. */
static int
acl_addr(const struct sockaddr *sa, unsigned char addr[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(addr, a6->s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(addr, a6->s6_addr, 16);
		return AF_INET6;
	}
	return -1;
}

/* acl_in: is addr inside net? */
static int
acl_in(const struct acl_net *net, const unsigned char *addr)
{
	int full = net->prefix / 8, rest = net->prefix % 8;

	if (memcmp(net->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (addr[full] & mask);
}

int
acl_match(const struct acl_net *nets, size_t n, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family = acl_addr(sa, addr);

	for (size_t i = 0; i < n; i++)
		if (nets[i].family == family && acl_in(&nets[i], addr))
			return 1;
	return 0;
}

int
acl_is_loopback(const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family = acl_addr(sa, addr);

	if (family == AF_INET)
		return addr[0] == 127;
	return family == AF_INET6 && IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)addr);
}
