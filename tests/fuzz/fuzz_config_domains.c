/*
 * fuzz_config_domains: libFuzzer target for the domains list's pure parts
 * (config_domains.c): the input up to its first NUL is a match pattern, the rest a
 * recipient's domain. Checked: neither reads outside its input; a pattern read is a
 * lower-case host name without '*' or '@'; an exact pattern matches its own domain
 * and not a subdomain of it, a subdomain pattern a subdomain and not the domain; the
 * domain after the NUL is matched without trouble; nothing leaks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_domains.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const uint8_t *nul = memchr(data, '\0', len);
	size_t plen = nul ? (size_t)(nul - data) : len;
	char *text = xmalloc(plen + 1), *domain, *sub;
	struct config_domain d = { 0 };

	memcpy(text, data, plen);
	text[plen] = '\0';
	if ((d.domain = config_domain_pattern(text, &d.subdomains)) != NULL) {
		for (const char *c = d.domain; *c; c++)
			if ((*c >= 'A' && *c <= 'Z') || *c == '*' || *c == '@')
				abort();
		sub = xasprintf("mx.%s", d.domain);
		if (config_domain_match(&d, d.domain) != !d.subdomains ||
		    config_domain_match(&d, sub) != d.subdomains)
			abort();
		free(sub);
		if (nul != NULL) {
			domain = xmalloc(len - plen);
			memcpy(domain, nul + 1, len - plen - 1);
			domain[len - plen - 1] = '\0';
			(void)config_domain_match(&d, domain);
			free(domain);
		}
	}
	free(d.domain);
	free(text);
	return 0;
}
