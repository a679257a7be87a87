/*
 * acl: network lists (allow_networks = [ "192.168.1.0/24", "2001:db8::/32", "10.0.0.5" ]).
 * Pure parsing and matching; no I/O.
 */
#ifndef RELAYD_ACL_H
#define RELAYD_ACL_H

#include <sys/socket.h>

struct acl_net {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* network address, host bits cleared */
	int		prefix;		/* prefix length in bits */
};

/*
 * acl_parse: "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6) into *net. Returns 0, or -1 when
 * s is not an address, or the prefix is out of range.
 */
int	acl_parse(const char *s, struct acl_net *net);

/* acl_match: is sa (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) in one of n nets? */
int	acl_match(const struct acl_net *nets, size_t n, const struct sockaddr *sa);

/* acl_is_loopback: is sa a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104)? */
int	acl_is_loopback(const struct sockaddr *sa);

#endif
