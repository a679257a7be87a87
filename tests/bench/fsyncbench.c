/*
 * fsyncbench: the disk's own durable-write rate, the physical reference for the relay
 * benchmark. Two loops, each for about SECONDS seconds in DIR:
 *
 *   file    per op: create tmp file, write 2 KB, fsync, rename into place, fsync the
 *           directory (what a one-file-per-message spool does for every message,
 *           Postfix and OpenSMTPD alike)
 *   append  per op: append 2 KB to one file, fdatasync (a journal's best case)
 *
 * Prints one line per loop: "file OPS SECONDS RATE" and "append OPS SECONDS RATE".
 * usage: fsyncbench DIR [SECONDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FSB_SIZE	2048
#define FSB_MAX_OPS	1000000		/* bound, whatever the disk */

static double
fsb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
fsb_die(const char *what)
{
	fprintf(stderr, "fsyncbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* fsb_file: new file + write + fsync + rename + fsync dir, until secs pass. */
static void
fsb_file(int dfd, const char *buf, double secs)
{
	char tmp[64], name[64];
	double t0 = fsb_now(), t;
	long n = 0;

	do {
		int fd;

		snprintf(tmp, sizeof(tmp), "tmp.%ld", n);
		snprintf(name, sizeof(name), "msg.%ld", n);
		if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
			fsb_die("create");
		if (write(fd, buf, FSB_SIZE) != FSB_SIZE)
			fsb_die("write");
		if (fsync(fd) == -1)
			fsb_die("fsync");
		close(fd);
		if (renameat(dfd, tmp, dfd, name) == -1)
			fsb_die("rename");
		if (fsync(dfd) == -1)
			fsb_die("fsync dir");
		n++;
		t = fsb_now() - t0;
	} while (t < secs && n < FSB_MAX_OPS);
	printf("file %ld %.3f %.1f\n", n, t, n / t);
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "msg.%ld", i);
		unlinkat(dfd, name, 0);
	}
}

/* fsb_append: append + fdatasync, until secs pass. */
static void
fsb_append(int dfd, const char *buf, double secs)
{
	double t0, t;
	long n = 0;
	int fd;

	if ((fd = openat(dfd, "journal", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600)) == -1)
		fsb_die("create journal");
	fsync(fd);
	fsync(dfd);
	t0 = fsb_now();
	do {
		if (write(fd, buf, FSB_SIZE) != FSB_SIZE)
			fsb_die("append");
		if (fdatasync(fd) == -1)
			fsb_die("fdatasync");
		n++;
		t = fsb_now() - t0;
	} while (t < secs && n < FSB_MAX_OPS);
	printf("append %ld %.3f %.1f\n", n, t, n / t);
	close(fd);
	unlinkat(dfd, "journal", 0);
}

int
main(int argc, char **argv)
{
	char buf[FSB_SIZE];
	double secs = argc > 2 ? atof(argv[2]) : 3.0;
	int dfd;

	if (argc < 2 || secs <= 0) {
		fprintf(stderr, "usage: fsyncbench DIR [SECONDS]\n");
		return 64;
	}
	if ((dfd = open(argv[1], O_RDONLY | O_DIRECTORY)) == -1)
		fsb_die(argv[1]);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (i % 78 == 77) ? '\n' : 'a' + (char)(i % 26);
	fsb_file(dfd, buf, secs);
	fsb_append(dfd, buf, secs);
	fflush(stdout);
	return 0;
}
