/*
 * oauth_file: an OAuth account's token file (default SPOOL/oauth/NAME, mode 0600),
 * written by relayctl oauth login and by relayd when the provider rotates the refresh
 * token. Version 1, one "key: value" a line:
 *
 *	relayd-oauth: 1
 *	refresh_token: ...
 *	access_token: ...        (optional)
 *	expires_at: 1764880000   (optional; unix time the access token expires)
 *
 * Values are VSCHAR (printable ASCII, oauth_proto_vschar); a line with anything else
 * is ignored. Unknown keys are ignored (a later version may add some). The file is
 * replaced as a
 * whole: a temporary file, fsync, rename, fsync of the directory, so that a crash at
 * any moment leaves the old file or the new one, never neither.
 */
#ifndef RELAYD_OAUTH_FILE_H
#define RELAYD_OAUTH_FILE_H

#include <stddef.h>
#include <time.h>

struct oauth_file {
	char		*refresh_token;
	char		*access_token;	/* or NULL */
	time_t		 expires_at;	/* 0 when unknown */
};

/* oauth_file_encode: the text of f, a new string (holds secrets). Pure. */
char	*oauth_file_encode(const struct oauth_file *);

/*
 * oauth_file_decode: parse text (len octets). Returns 0, or -1 when it is not a
 * version-1 file with a refresh_token. Free with oauth_file_clear (also after -1).
 */
int	 oauth_file_decode(const char *text, size_t len, struct oauth_file *);
void	 oauth_file_clear(struct oauth_file *);

/*
 * oauth_file_write: replace path durably with f (mode 0600; when running as root, owned
 * like its directory, so that relayd can replace it later). The directory is created
 * (0700) when missing. Returns 0, or -1 with err filled.
 */
int	 oauth_file_write(const char *path, const struct oauth_file *, char *err,
	    size_t errlen);

/*
 * oauth_file_mkdir: create dir and its missing parents (0700; as root, each owned like
 * its parent). Returns 0, or -1 with errno set. relayd calls it at start-up for the
 * directory of each token file, so the spool's oauth/ is its own.
 */
int	 oauth_file_mkdir(const char *dir);

/* oauth_file_read: read path. Returns 0, 1 when it does not exist, -1 (err filled). */
int	 oauth_file_read(const char *path, struct oauth_file *, char *err, size_t errlen);

#endif
