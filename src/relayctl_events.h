/*
 * relayctl_events: "relayctl events [--json] [--follow] [--since ID|TIME] [--type T]":
 * the event journal read locally, from SPOOL/events of the config given with -c
 * (relayd need not run; the journal's format is events_file.h).
 */
#ifndef RELAYD_RELAYCTL_EVENTS_H
#define RELAYD_RELAYCTL_EVENTS_H

/* relayctl_events_config: the config file whose spool_dir holds the journal. */
void	relayctl_events_config(const char *path);

/* relayctl_events: argv[0] is "events". Returns the exit code. */
int	relayctl_events(int argc, char **argv);

#endif
