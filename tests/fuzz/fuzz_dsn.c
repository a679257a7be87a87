/*
 * fuzz_dsn: libFuzzer target for the delivery status report builder (dsn.c). The
 * input is split at NUL octets into the facts (hostname, to, queue id, Message-ID,
 * recipient, status, reply, remote MTA, why, the original's header block); the
 * report must have CRLF lines of at most 998 octets, its own header block must read
 * as a report (dsn_is_report), its Message-ID as relayd's (dsn_is_own), and nothing
 * may crash or leak; dsn_is_report and dsn_status run on the raw input too.
 * Built by `make fuzz` (tests/fuzz/seeds/dsn).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *field[10], st[16];
	size_t nf = 0, len, hlen, col = 0;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	dsn_is_report(s, size);
	dsn_status(s, st);
	for (char *p = s; nf < 10; p += strlen(p) + 1) {
		field[nf++] = p;
		if (p + strlen(p) >= s + size)
			break;
	}
	while (nf < 10)
		field[nf++] = NULL;
	struct dsn_facts f = {
		.hostname = field[0], .to = field[1] ? field[1] : "", .queue_id = field[2],
		.message_id = field[3], .recipient = field[4] ? field[4] : "",
		.status = field[5], .reply = field[6], .remote_mta = field[7], .why = field[8],
		.arrival = (time_t)size, .now = (time_t)size * 7,
		.headers = field[9], .headers_len = field[9] ? strlen(field[9]) : 0,
	};
	char *msg = dsn_build(&f, &len, &hlen);
	if (len != strlen(msg) || hlen >= len || !dsn_is_report(msg, hlen))
		abort();
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			if (i + 1 >= len || msg[i + 1] != '\n')
				abort();
			i++;
			col = 0;
		} else if (msg[i] == '\n' || ++col > 998)
			abort();
	}
	char *mid = dsn_message_id(f.hostname, f.queue_id, f.recipient);
	if (!dsn_is_own(mid) || strstr(msg, mid) == NULL)
		abort();
	free(mid);
	free(msg);
	free(s);
	return 0;
}
