/*
 * relayctl_client: relayctl's side of the control socket (see control.h for the
 * protocol). Every relayctl command that needs the daemon goes through here.
 */
#ifndef RELAYD_RELAYCTL_CLIENT_H
#define RELAYD_RELAYCTL_CLIENT_H

#include <jansson.h>

/* relayctl_client_socket: use this socket path (from -s, or the config's key). */
void	relayctl_client_socket(const char *path);

/*
 * relayctl_client_socket_from_config: read control_socket from the config file (only
 * that key: relayctl need not read the secrets). When the path was not given (-c) and
 * may not be read, the default socket. Returns 0, or -1 after printing why.
 */
int	relayctl_client_socket_from_config(const char *config_path, int given);

/*
 * relayctl_client_config_string: the top-level string key of the config file at path
 * (only that key is read), or dflt when it is absent: a new string, or NULL after
 * printing why the file cannot be read.
 */
char	*relayctl_client_config_string(const char *path, const char *key, const char *dflt);

/*
 * relayctl_client_call: run cmd with args (borrowed; NULL for none) in relayd.
 * Returns 0 with *result a new reference, or an exit code, the reason printed on
 * stderr: 69 relayd not running, 67 no such queue id or account, 65 bad arguments,
 * 70 relayd refused otherwise (the answer's "kind", see control.h).
 */
int	relayctl_client_call(const char *cmd, json_t *args, json_t **result);

/* relayctl_client_print_json: print v as one JSON line on stdout. */
void	relayctl_client_print_json(json_t *v);

#endif
