/*
 * bounce_store_file: loading, appending to and replacing the bounce store's files
 * (the formats are bounce_store.c's; this only knows lines and the format line).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounce_store_file.h"
#include "log.h"
#include "xmalloc.h"

long
bounce_store_file_load(struct bounce_store_file *f,
    void (*fn)(char *line, size_t len, void *arg), void *arg)
{
	struct stat st;
	char *buf = NULL, *p, *nl;
	long nlines = 0;
	size_t len, keep;

	f->fd = openat(f->dirfd, f->name, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (f->fd == -1 || fstat(f->fd, &st) == -1) {
		log_err("bounces: cannot open %s/%s: %s", f->dir, f->name,
		    strerror(errno));
		return -1;
	}
	len = (size_t)st.st_size;
	if (len == 0) {
		char line[64];
		int n = snprintf(line, sizeof(line), "%s\n", f->magic);

		if (write(f->fd, line, (size_t)n) != n || fsync(f->fd) == -1 ||
		    fsync(f->dirfd) == -1) {
			log_err("bounces: cannot write %s/%s: %s", f->dir,
			    f->name, strerror(errno));
			return -1;
		}
		return 0;
	}
	buf = xmalloc(len + 1);
	if (pread(f->fd, buf, len, 0) != (ssize_t)len) {
		log_err("bounces: cannot read %s/%s: %s", f->dir, f->name,
		    strerror(errno));
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	for (keep = len; keep > 0 && buf[keep - 1] != '\n'; keep--)
		;
	if (keep < len) {	/* a line cut short by a crash: it never counted */
		log_warn("bounces: %s/%s: dropping a torn last line (%zu octets)",
		    f->dir, f->name, len - keep);
		if (ftruncate(f->fd, (off_t)keep) == -1 || fsync(f->fd) == -1) {
			log_err("bounces: cannot repair %s/%s: %s", f->dir,
			    f->name, strerror(errno));
			free(buf);
			return -1;
		}
		buf[keep] = '\0';
	}
	nl = strchr(buf, '\n');
	if (nl == NULL || (size_t)(nl - buf) != strlen(f->magic) ||
	    memcmp(buf, f->magic, strlen(f->magic)) != 0) {
		log_err("bounces: %s/%s: not a \"%s\" file (written by another "
		    "release?); move it away to start afresh", f->dir, f->name,
		    f->magic);
		free(buf);
		return -1;
	}
	/* By length, not strchr: a NUL octet in the file must not end the walk early. */
	for (p = nl + 1; p < buf + keep; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(buf + keep - p));
		*nl = '\0';
		if (nl > p)
			fn(p, (size_t)(nl - p), arg);
		nlines++;
	}
	free(buf);
	return nlines;
}

int
bounce_store_file_append(struct bounce_store_file *f, const char *line, int nosync)
{
	size_t len = strlen(line), off = 0;
	struct stat st;

	if (f->fd == -1 || fstat(f->fd, &st) == -1)
		goto fail;
	while (off < len) {
		ssize_t n = write(f->fd, line + off, len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = errno;	/* leave no torn line behind */
			if (ftruncate(f->fd, st.st_size) == -1)
				log_warn("bounces: cannot undo a partial write to %s/%s: %s",
				    f->dir, f->name, strerror(errno));
			errno = e;
			goto fail;
		}
		off += (size_t)n;
	}
	if (!nosync && fdatasync(f->fd) == -1)
		goto fail;
	return 0;
fail:
	log_err("bounces: cannot write %s/%s: %s", f->dir, f->name,
	    strerror(errno ? errno : EIO));
	return -1;
}

int
bounce_store_file_rewrite(struct bounce_store_file *f, const char *text)
{
	char tmp[64];
	int fd;
	FILE *fp;

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->name);
	if ((fd = openat(f->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		log_err("bounces: cannot create %s/%s: %s", f->dir, tmp,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	fprintf(fp, "%s\n%s", f->magic, text);
	if (fflush(fp) == EOF || fsync(fd) == -1) {
		log_err("bounces: cannot write %s/%s: %s", f->dir, tmp,
		    strerror(errno));
		fclose(fp);
		unlinkat(f->dirfd, tmp, 0);
		return -1;
	}
	fclose(fp);
	if (renameat(f->dirfd, tmp, f->dirfd, f->name) == -1) {
		log_err("bounces: cannot rename %s/%s into place: %s", f->dir, tmp,
		    strerror(errno));
		unlinkat(f->dirfd, tmp, 0);
		return -1;
	}
	fsync(f->dirfd);
	if (f->fd != -1)
		close(f->fd);
	f->fd = openat(f->dirfd, f->name, O_RDWR | O_APPEND | O_CLOEXEC);
	if (f->fd == -1)
		log_err("bounces: cannot reopen %s/%s: %s", f->dir,
		    f->name, strerror(errno));
	return 0;
}

void
bounce_store_file_close(struct bounce_store_file *f)
{
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
}
