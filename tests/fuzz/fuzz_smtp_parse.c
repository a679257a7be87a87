/*
 * fuzz_smtp_parse: libFuzzer target for the command-line parsers. The input is one
 * command line; it goes through smtp_parse_command and, whatever the verb, through
 * smtp_parse_mail and smtp_parse_rcpt, and the whole input through
 * smtp_parse_mailbox. Whatever the parsers accept must be self-consistent: an accepted
 * address is a valid mailbox and fits SMTP_PATH_MAX; every error is a reply line.
 *
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *       tests/fuzz/fuzz_smtp_parse.c src/smtp_parse.c src/xmalloc.c -o fuzz_smtp_parse
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_reply: an error must be "ddd d.d.d text" with no CR or LF. */
static void
fuzz_reply(const char *err)
{
	if (err == NULL || strlen(err) < 10 || err[3] != ' ' ||
	    (err[0] != '5' && err[0] != '4') || strpbrk(err, "\r\n") != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_mail_args ma;
	char verb[SMTP_VERB_MAX], addr[SMTP_PATH_MAX], *line;
	const char *args, *err;
	size_t n;

	line = malloc(size + 1);
	memcpy(line, data, size);
	line[size] = '\0';

	if (smtp_parse_command(line, size, verb, &args) == 0) {
		n = strlen(verb);
		if (n == 0 || n >= SMTP_VERB_MAX)
			abort();
		if (*args != '\0' && (args < line || args > line + size))
			abort();
	}

	/* the argument parsers read C strings: give them the line up to a NUL */
	err = NULL;
	if (smtp_parse_mail(line, &ma, &err) == 0) {
		n = strlen(ma.addr);
		if (n + 2 > SMTP_PATH_MAX || (n > 0 && !smtp_parse_mailbox(ma.addr, n)))
			abort();
	} else
		fuzz_reply(err);
	err = NULL;
	if (smtp_parse_rcpt(line, addr, &err) == 0) {
		n = strlen(addr);
		if (n == 0 || n + 2 > SMTP_PATH_MAX || !smtp_parse_mailbox(addr, n))
			abort();
	} else
		fuzz_reply(err);
	free(line);

	/* exact-size copy so an overread of the mailbox is caught */
	line = malloc(size ? size : 1);
	memcpy(line, data, size);
	if (smtp_parse_mailbox(line, size) && size > 64 + 1 + 255)
		abort();
	free(line);
	return 0;
}
