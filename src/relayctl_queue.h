/*
 * relayctl_queue: "relayctl queue list|show|hold|release|delete" and "relayctl flush".
 */
#ifndef RELAYD_RELAYCTL_QUEUE_H
#define RELAYD_RELAYCTL_QUEUE_H

/* relayctl_queue: argv[0] is "queue". Returns the exit code. */
int	relayctl_queue(int argc, char **argv);

/* relayctl_flush: argv[0] is "flush". Returns the exit code. */
int	relayctl_flush(int argc, char **argv);

#endif
