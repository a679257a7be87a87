/*
 * spoolgen: write N committed messages straight into a relayd spool (SPOOL/queue/ID),
 * in the format documented at the top of src/queue.c (version 1: envelope, size and
 * crc filled in, then the message), for the start-up and `relayctl status` benchmark
 * with a large queue. No fsync: the files only have to be there, not survive a crash.
 *
 * usage: spoolgen SPOOL N [BODY_OCTETS]
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static void
sg_die(const char *what)
{
	fprintf(stderr, "spoolgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

int
main(int argc, char **argv)
{
	long n, body;
	int sfd, qfd;
	char msg[65536], file[70000], id[17], hdr[1024];
	time_t now = time(NULL);

	if (argc < 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: spoolgen SPOOL N [BODY_OCTETS]\n");
		return 64;
	}
	body = argc > 3 ? atol(argv[3]) : 512;
	if (body < 0 || body > 60000)
		body = 512;
	if (mkdir(argv[1], 0700) == -1 && errno != EEXIST)
		sg_die(argv[1]);
	if ((sfd = open(argv[1], O_RDONLY | O_DIRECTORY)) == -1)
		sg_die(argv[1]);
	if (mkdirat(sfd, "incoming", 0700) == -1 && errno != EEXIST)
		sg_die("incoming");
	if (mkdirat(sfd, "queue", 0700) == -1 && errno != EEXIST)
		sg_die("queue");
	if ((qfd = openat(sfd, "queue", O_RDONLY | O_DIRECTORY)) == -1)
		sg_die("queue");

	for (long i = 0; i < n; i++) {
		int hlen, blen = 0, flen, fd;
		uint32_t crc;

		snprintf(id, sizeof(id), "%08X%08X", (unsigned)now, (unsigned)i);
		hlen = snprintf(msg, sizeof(msg), "From: App <app@example.org>\r\n"
		    "To: <rcpt%ld@example.net>\r\nSubject: bench %ld\r\n"
		    "Message-ID: <%s@bench.example>\r\n\r\n", i, i, id);
		/* Body: CRLF lines of 76 letters, then a last short line. */
		while (blen < body) {
			int line = body - blen - 2 > 76 ? 76 : (int)(body - blen - 2);

			if (line < 1)
				line = 1;
			memset(msg + hlen + blen, 'a' + (int)(i % 26), (size_t)line);
			blen += line;
			memcpy(msg + hlen + blen, "\r\n", 2);
			blen += 2;
		}
		crc = (uint32_t)crc32(crc32(0, NULL, 0), (unsigned char *)msg,
		    (uInt)(hlen + blen));
		flen = snprintf(hdr, sizeof(hdr), "relayd-queue 1\nid: %s\ntime: %lld\n"
		    "client: 127.0.0.1\nfrom: app@example.org\nrcpt: rcpt%ld@example.net\n"
		    "message-id: <%s@bench.example>\nheader-size: %d\nsize: %020d\n"
		    "crc: %08x\n\n", id, (long long)now, i, id, hlen, hlen + blen, crc);
		memcpy(file, hdr, (size_t)flen);
		memcpy(file + flen, msg, (size_t)(hlen + blen));
		flen += hlen + blen;
		if ((fd = openat(qfd, id, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
			sg_die("create");
		if (write(fd, file, (size_t)flen) != flen)
			sg_die("write");
		close(fd);
	}
	printf("spoolgen: %ld messages in %s/queue\n", n, argv[1]);
	return 0;
}
