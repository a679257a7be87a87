/*
 * relayctl_bounce: relayctl's bounce commands: "bounce-parse FILE... [--json]" parses
 * saved messages offline with bounce_parse (no running relayd needed); "bounces" and
 * "suppress list|add|remove" ask the running relayd (bounce_store's commands).
 */
#ifndef RELAYD_RELAYCTL_BOUNCE_H
#define RELAYD_RELAYCTL_BOUNCE_H

/* relayctl_bounce_parse: argv[0] is "bounce-parse". Returns the process exit code. */
int	relayctl_bounce_parse(int argc, char **argv);

/*
 * relayctl_bounces: "bounces [--limit N] [--json]": the recorded bounces, newest
 * first, as a table or as {"bounces":[{recipient, kind, status, diagnostic,
 * queue_id, message_id, account, time, matched}]}. Returns the exit code.
 */
int	relayctl_bounces(int argc, char **argv);

/*
 * relayctl_suppress: "suppress list [--json]" ({"suppressed":[{address, reason,
 * since}]}), "suppress add ADDR", "suppress remove ADDR" (exit 70 with the reason on
 * stderr if ADDR is not listed). Returns the exit code.
 */
int	relayctl_suppress(int argc, char **argv);

#endif
