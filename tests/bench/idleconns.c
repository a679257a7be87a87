/*
 * idleconns: open N idle SMTP connections to HOST:PORT, read each one's greeting, and
 * hold them until stdin closes (or HOLD seconds pass), so the driver can measure the
 * server's memory per idle connection. RLIMIT_NOFILE is raised to fit.
 *
 * Prints "connected N greeted G" once every connection got its greeting (or the
 * deadline passed), then waits. usage: idleconns HOST PORT N [HOLD [DEADLINE]]
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
ic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct rlimit rl;
	int n, ep, *fds, connected = 0, greeted = 0;
	char *seen;
	double hold, deadline, t0;

	if (argc < 4 || (n = atoi(argv[3])) <= 0 ||
	    inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "usage: idleconns HOST PORT N [HOLD [DEADLINE]]\n");
		return 64;
	}
	hold = argc > 4 ? atof(argv[4]) : 60;
	deadline = argc > 5 ? atof(argv[5]) : 60;
	sin.sin_port = htons((unsigned short)atoi(argv[2]));
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = (rlim_t)n + 64;
		if (rl.rlim_max < rl.rlim_cur)
			rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			fprintf(stderr, "idleconns: cannot raise RLIMIT_NOFILE to %d: %s\n",
			    n + 64, strerror(errno));
			return 1;
		}
	}
	fds = calloc((size_t)n, sizeof(*fds));
	seen = calloc((size_t)n, 1);
	ep = epoll_create1(0);
	t0 = ic_now();
	/* Connect in small waves so the listen backlog never overflows. */
	for (int i = 0; i < n && ic_now() - t0 < deadline; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd == -1 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
			fprintf(stderr, "idleconns: connection %d: %s\n", i, strerror(errno));
			if (fd != -1)
				close(fd);
			break;
		}
		fds[connected++] = fd;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		if (connected % 100 == 0 || connected == n) {
			struct epoll_event evs[256];
			int k;

			/* Let the server catch up: read greetings until this wave is in. */
			while (greeted < connected && ic_now() - t0 < deadline) {
				if ((k = epoll_wait(ep, evs, 256, 100)) <= 0)
					continue;
				for (int j = 0; j < k; j++) {
					char buf[512];
					uint32_t c = evs[j].data.u32;

					if (read(fds[c], buf, sizeof(buf)) > 0 && !seen[c]) {
						seen[c] = 1;
						greeted++;
					}
					epoll_ctl(ep, EPOLL_CTL_DEL, fds[c], NULL);
				}
			}
		}
	}
	printf("connected %d greeted %d seconds %.2f\n", connected, greeted, ic_now() - t0);
	fflush(stdout);
	/* Hold them idle until the driver closes stdin, or hold seconds pass. */
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	double end = ic_now() + hold;
	while (ic_now() < end) {
		char c;

		if (poll(&pfd, 1, 200) > 0 && read(0, &c, 1) <= 0)
			break;
	}
	for (int i = 0; i < connected; i++)
		close(fds[i]);
	return 0;
}
