/*
 * bounce_store_file: the bounce store's files: text, one record per line, after a
 * format line ("relayd-sent 1"). Records are appended (and synced); a whole file is
 * only ever replaced by writing a new one and renaming it over the old. A last line
 * without its LF was cut short by a crash before it counted: loading drops it.
 */
#ifndef RELAYD_BOUNCE_STORE_FILE_H
#define RELAYD_BOUNCE_STORE_FILE_H

#include <stddef.h>

struct bounce_store_file {
	const char	*name;		/* in dir */
	const char	*magic;		/* the format line, e.g. "relayd-sent 1" */
	const char	*dir;		/* the directory's path, for messages */
	int		 dirfd;		/* the directory, open */
	int		 fd;		/* the file, open for appending; -1 if not */
};

/*
 * bounce_store_file_load: open f (creating it with its format line if missing or
 * empty), drop a torn last line, and call fn with each record line (without its LF,
 * NUL-terminated, writable) and arg. Returns the number of records, or -1 after
 * logging (unreadable, or not of f's format: such a file is left as it is).
 */
long	bounce_store_file_load(struct bounce_store_file *f,
	    void (*fn)(char *line, size_t len, void *arg), void *arg);

/*
 * bounce_store_file_append: append line (with its LF) and, unless nosync, fdatasync.
 * A partial write is cut off again. Returns 0, or -1 after logging.
 */
int	bounce_store_file_append(struct bounce_store_file *f, const char *line, int nosync);

/*
 * bounce_store_file_rewrite: replace f by its format line and text (each line with
 * its LF): a temporary file, fsync, rename, fsync of the directory; f is reopened
 * for appending. Returns 0, or -1 after logging (the old file stays).
 */
int	bounce_store_file_rewrite(struct bounce_store_file *f, const char *text);

/* bounce_store_file_close: close f's descriptor, if open. */
void	bounce_store_file_close(struct bounce_store_file *f);

#endif
