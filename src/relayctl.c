/*
 * relayctl: the operator's command. Most commands talk to a running relayd over its
 * control socket; a few (bounce-parse) work offline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relayctl_bounce.h"

static int relayctl_help(int, char **);

static const struct relayctl_cmd {
	const char	*name;
	int		(*run)(int, char **);
	const char	*usage;
} relayctl_cmds[] = {
	{ "bounce-parse", relayctl_bounce_parse,
	  "bounce-parse FILE... [--json]   parse saved messages, say whether and why they bounced" },
	{ "help", relayctl_help, "help                            this text" },
};

static int
relayctl_help(int argc, char **argv)
{
	printf("usage: relayctl [-c CONFIG | -s SOCKET] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(relayctl_cmds) / sizeof(relayctl_cmds[0]); i++)
		printf("  %s\n", relayctl_cmds[i].usage);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return relayctl_help(argc, argv) == 0 && argc >= 2 ? 0 : 64;
	for (size_t i = 0; i < sizeof(relayctl_cmds) / sizeof(relayctl_cmds[0]); i++)
		if (strcmp(argv[1], relayctl_cmds[i].name) == 0)
			return relayctl_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "relayctl: unknown command '%s' (relayctl --help lists them)\n", argv[1]);
	return 64;
}
