/*
 * version: the one version string of relayd, relayctl and relay-sendmail.
 */
#ifndef RELAYD_VERSION_H
#define RELAYD_VERSION_H

#define RELAYD_VERSION		"0.1"

#endif
