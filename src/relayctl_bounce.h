/*
 * relayctl_bounce: "relayctl bounce-parse FILE... [--json]": parse saved messages
 * offline with bounce_parse and print what was found. Needs no running relayd.
 */
#ifndef RELAYD_RELAYCTL_BOUNCE_H
#define RELAYD_RELAYCTL_BOUNCE_H

/* relayctl_bounce_parse: argv[0] is "bounce-parse". Returns the process exit code. */
int	relayctl_bounce_parse(int argc, char **argv);

#endif
