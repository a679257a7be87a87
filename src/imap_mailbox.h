/*
 * imap_mailbox: a watched mailbox apart from the session that reads it: its name as
 * IMAP wants it on the wire (RFC 3501 5.1.3: modified UTF-7, in a quoted string), and
 * the position reached in it (UIDVALIDITY and the last UID processed), kept in the
 * spool so that a restart resumes where the last run stopped.
 */
#ifndef RELAYD_IMAP_MAILBOX_H
#define RELAYD_IMAP_MAILBOX_H

#include <stdint.h>

/*
 * imap_mailbox_quote: name (UTF-8, e.g. "Отказы") as an IMAP quoted string in
 * modified UTF-7 ("\"&BB4EQgQ6BDAENwRL-\""). Returns a new string the caller frees,
 * or NULL when name is empty, not valid UTF-8, or has control characters.
 */
char	*imap_mailbox_quote(const char *name);

/*
 * imap_mailbox_load: read the position saved at path. Returns 1 with *uidvalidity
 * and *last_uid set when the file is there, well-formed and for folder; 0 otherwise
 * (a missing file silently; anything else is logged for account): start afresh.
 */
int	 imap_mailbox_load(const char *path, const char *account, const char *folder,
	    uint32_t *uidvalidity, uint32_t *last_uid);

/*
 * imap_mailbox_save: write the position for folder to path durably (a temporary
 * file, fsync, rename, fsync of the directory). Returns 0, or -1 after logging.
 */
int	 imap_mailbox_save(const char *path, const char *account, const char *folder,
	    uint32_t uidvalidity, uint32_t last_uid);

#endif
