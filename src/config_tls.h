/*
 * config_tls: how a connection to a server is secured, as relay.conf's "tls" key says.
 * A header of its own, below config.h and preset.h, so that the presets can name a
 * mode without depending on the config module that reads them (issue 15: no cycles).
 */
#ifndef RELAYD_CONFIG_TLS_H
#define RELAYD_CONFIG_TLS_H

enum config_tls {
	CONFIG_TLS_IMPLICIT,	/* TLS from the first byte (465) */
	CONFIG_TLS_STARTTLS,	/* clear greeting, then STARTTLS before anything else */
	CONFIG_TLS_NONE,	/* clear text: loopback hosts only (local smarthost) */
};

#endif
