/*
 * relayctl_oauth: "relayctl oauth login ACCOUNT" signs an OAuth account in (the device
 * flow where the account has a device_url, else the authorization code flow with PKCE
 * and a loopback redirect), stores the refresh token in the account's token_file and
 * tells the running relayd to use it at once; "relayctl oauth status" shows each OAuth
 * account's token state (never a token).
 */
#ifndef RELAYD_RELAYCTL_OAUTH_H
#define RELAYD_RELAYCTL_OAUTH_H

/* relayctl_oauth_config: the configuration file login reads the account from. */
void	relayctl_oauth_config(const char *path);

/* relayctl_oauth: argv[0] is "oauth". Returns the process exit code. */
int	relayctl_oauth(int argc, char **argv);

#endif
