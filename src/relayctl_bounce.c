/*
 * relayctl_bounce: offline bounce parsing for operators (placeholder until the
 * bounce parser lands).
 */
#include <stdio.h>

#include "relayctl_bounce.h"

int
relayctl_bounce_parse(int argc, char **argv)
{
	fprintf(stderr, "relayctl: bounce-parse: not available yet\n");
	return 69;
}
