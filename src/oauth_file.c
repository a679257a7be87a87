/*
 * oauth_file: the token file's format and its durable replacement (see oauth_file.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oauth_file.h"
#include "oauth_proto.h"
#include "xmalloc.h"

char *
oauth_file_encode(const struct oauth_file *f)
{
	if (f->access_token != NULL)
		return xasprintf("relayd-oauth: 1\nrefresh_token: %s\naccess_token: %s\n"
		    "expires_at: %lld\n", f->refresh_token, f->access_token,
		    (long long)f->expires_at);
	return xasprintf("relayd-oauth: 1\nrefresh_token: %s\n", f->refresh_token);
}

void
oauth_file_clear(struct oauth_file *f)
{
	oauth_proto_zfree(f->refresh_token);
	oauth_proto_zfree(f->access_token);
	memset(f, 0, sizeof(*f));
}

int
oauth_file_decode(const char *text, size_t len, struct oauth_file *f)
{
	const char *p = text, *end = text + len;
	int version = 0;

	memset(f, 0, sizeof(*f));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *v;

		if (n > 0 && p[n - 1] == '\r')
			n--;
		colon = memchr(p, ':', n);
		/* A value is VSCHAR only; a line with anything else is not ours. */
		if (colon != NULL && colon + 1 < p + n && colon[1] == ' ' &&
		    oauth_proto_vschar(colon + 2, (size_t)(p + n - colon - 2))) {
			size_t kl = (size_t)(colon - p);

			v = xstrndup(colon + 2, n - kl - 2);
			if (kl == 12 && memcmp(p, "relayd-oauth", 12) == 0)
				version = atoi(v);
			else if (kl == 13 && memcmp(p, "refresh_token", 13) == 0 && *v) {
				oauth_proto_zfree(f->refresh_token);
				f->refresh_token = v;
				v = NULL;
			} else if (kl == 12 && memcmp(p, "access_token", 12) == 0 && *v) {
				oauth_proto_zfree(f->access_token);
				f->access_token = v;
				v = NULL;
			} else if (kl == 10 && memcmp(p, "expires_at", 10) == 0)
				f->expires_at = (time_t)strtoll(v, NULL, 10);
			oauth_proto_zfree(v);
		}
		p = nl ? nl + 1 : end;
	}
	return version == 1 && f->refresh_token != NULL ? 0 : -1;
}

/*
 * oauth_file_mkdir1: create one directory (0700). As root (relayctl), it is given the
 * owner of its parent, the spool, so that relayd, its own user, can use it.
 */
static int
oauth_file_mkdir1(const char *dir)
{
	char *copy, *parent;
	struct stat st;
	int r = 0;

	if (mkdir(dir, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	if (geteuid() != 0)
		return 0;
	copy = xstrdup(dir);
	parent = dirname(copy);
	if (stat(parent, &st) == 0 && chown(dir, st.st_uid, st.st_gid) == -1)
		r = -1;
	free(copy);
	return r;
}

int
oauth_file_mkdir(const char *dir)
{
	char *copy = xstrdup(dir), *p;
	int r = 0;

	for (p = copy + 1; *p && r == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		r = oauth_file_mkdir1(copy);
		*p = '/';
	}
	if (r == 0)
		r = oauth_file_mkdir1(copy);
	free(copy);
	return r;
}

int
oauth_file_write(const char *path, const struct oauth_file *f, char *err, size_t errlen)
{
	char *copy = xstrdup(path), *dir = dirname(copy), *tmp, *text;
	struct stat dst;
	int fd = -1, dfd = -1, r = -1;
	size_t len;

	tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	text = oauth_file_encode(f);
	len = strlen(text);
	if (oauth_file_mkdir(dir) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	/*
	 * relayctl as root writes a file relayd (its own user) must replace later. If
	 * this fails the file stays root's, and relayd's next rename says so.
	 */
	if (geteuid() == 0 && stat(dir, &dst) == 0 && fchown(fd, dst.st_uid, dst.st_gid) == -1)
		snprintf(err, errlen, "cannot chown %s: %s", tmp, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(dfd) == -1) {
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	if (r == -1)
		unlink(tmp);
	explicit_bzero(text, len);
	free(text);
	free(tmp);
	free(copy);
	return r;
}

int
oauth_file_read(const char *path, struct oauth_file *f, char *err, size_t errlen)
{
	char buf[16384];
	ssize_t n;
	int fd;

	memset(f, 0, sizeof(*f));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (oauth_file_decode(buf, (size_t)n, f) == -1) {
		explicit_bzero(buf, sizeof(buf));
		oauth_file_clear(f);
		snprintf(err, errlen, "%s is not a relayd token file (version 1 with a "
		    "refresh_token)", path);
		return -1;
	}
	explicit_bzero(buf, sizeof(buf));
	return 0;
}
