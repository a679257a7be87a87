/*
 * imap_mailbox: mailbox names on the wire, and the saved position in a mailbox.
 *
 * The position file, SPOOL/imap/ACCOUNT, format version 1:
 *   relayd-imap 1
 *   folder: INBOX
 *   uidvalidity: 1700000000
 *   last-uid: 42            every message with a UID up to this one was processed
 * It is replaced as a whole (tmp, fsync, rename, fsync of the directory), so it is
 * always either the old or the new one. A position is only good for the folder and
 * UIDVALIDITY it names (RFC 3501 2.3.1.1).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_mailbox.h"
#include "log.h"
#include "xmalloc.h"

#define IMAP_MAILBOX_MAGIC	"relayd-imap 1"

/* Modified base64 (RFC 3501 5.1.3): "," instead of "/", no padding. */
static const char imap_mailbox_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/* imap_mailbox_utf8: decode one code point at *p; -1 on invalid UTF-8. */
static long
imap_mailbox_utf8(const unsigned char **p)
{
	const unsigned char *s = *p;
	long cp;
	int n;

	if (s[0] < 0x80) {
		*p = s + 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		n = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		n = 2;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		n = 3;
	} else
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;	/* overlong, out of range, or a surrogate */
	*p = s + n + 1;
	return cp;
}

/* imap_mailbox_flush: write the pending UTF-16 units as "&...-". */
static char *
imap_mailbox_flush(char *o, const uint16_t *u, size_t nu)
{
	uint32_t acc = 0;
	int bits = 0;

	if (nu == 0)
		return o;
	*o++ = '&';
	for (size_t i = 0; i < nu; i++) {
		acc = (acc << 16) | u[i];
		bits += 16;
		while (bits >= 6) {
			bits -= 6;
			*o++ = imap_mailbox_b64[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		*o++ = imap_mailbox_b64[(acc << (6 - bits)) & 0x3f];
	*o++ = '-';
	return o;
}

char *
imap_mailbox_quote(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name);
	/* Worst case per input octet: 3 chars quoted; UTF-16 grows by 8/3 at most. */
	char *out = xmalloc(4 * len + 8), *o = out;
	uint16_t *u = xcalloc(len + 1, sizeof(*u));
	size_t nu = 0;

	if (len == 0)
		goto bad;
	*o++ = '"';
	while (*p != '\0') {
		long cp = imap_mailbox_utf8(&p);

		if (cp < 0 || cp < 0x20 || cp == 0x7f)
			goto bad;
		if (cp < 0x7f) {
			o = imap_mailbox_flush(o, u, nu);
			nu = 0;
			if (cp == '&') {
				*o++ = '&';
				*o++ = '-';
			} else {
				if (cp == '"' || cp == '\\')
					*o++ = '\\';
				*o++ = (char)cp;
			}
		} else if (cp < 0x10000)
			u[nu++] = (uint16_t)cp;
		else {
			cp -= 0x10000;
			u[nu++] = (uint16_t)(0xd800 | (cp >> 10));
			u[nu++] = (uint16_t)(0xdc00 | (cp & 0x3ff));
		}
	}
	o = imap_mailbox_flush(o, u, nu);
	*o++ = '"';
	*o = '\0';
	free(u);
	return out;
bad:
	free(u);
	free(out);
	return NULL;
}

int
imap_mailbox_load(const char *path, const char *account, const char *folder,
    uint32_t *uidvalidity, uint32_t *last_uid)
{
	FILE *fp = fopen(path, "r");
	char line[1024], saved[1024] = "";
	unsigned long long v;
	int magic = 0, uv = 0, lu = 0;

	if (fp == NULL) {
		if (errno != ENOENT)
			log_warn("imap: account=%s cannot read %s: %s; starting afresh", account,
			    path, strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, IMAP_MAILBOX_MAGIC) == 0)
			magic = 1;
		else if (strncmp(line, "folder: ", 8) == 0)
			snprintf(saved, sizeof(saved), "%s", line + 8);
		else if (sscanf(line, "uidvalidity: %llu", &v) == 1 && v <= UINT32_MAX) {
			*uidvalidity = (uint32_t)v;
			uv = 1;
		} else if (sscanf(line, "last-uid: %llu", &v) == 1 && v <= UINT32_MAX) {
			*last_uid = (uint32_t)v;
			lu = 1;
		}
	}
	fclose(fp);
	if (!magic || !uv || !lu) {
		log_warn("imap: account=%s %s is not a \"%s\" file; starting afresh", account,
		    path, IMAP_MAILBOX_MAGIC);
		return 0;
	}
	if (strcmp(saved, folder) != 0) {
		log_info("imap: account=%s the folder changed from %s to %s; starting afresh",
		    account, saved, folder);
		return 0;
	}
	return 1;
}

int
imap_mailbox_save(const char *path, const char *account, const char *folder,
    uint32_t uidvalidity, uint32_t last_uid)
{
	char *tmp = xasprintf("%s.tmp", path), *dir = xstrdup(path), *slash;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), dfd, rc = -1;
	FILE *fp = fd == -1 ? NULL : fdopen(fd, "w");

	if (fp == NULL) {
		log_err("imap: account=%s cannot create %s: %s", account, tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		goto out;
	}
	fprintf(fp, "%s\nfolder: %s\nuidvalidity: %" PRIu32 "\nlast-uid: %" PRIu32 "\n",
	    IMAP_MAILBOX_MAGIC, folder, uidvalidity, last_uid);
	if (fflush(fp) == EOF || fsync(fd) == -1) {
		log_err("imap: account=%s cannot write %s: %s", account, tmp, strerror(errno));
		fclose(fp);
		unlink(tmp);
		goto out;
	}
	fclose(fp);
	if (rename(tmp, path) == -1) {
		log_err("imap: account=%s cannot rename %s: %s", account, tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if ((dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
			fsync(dfd);
			close(dfd);
		}
	}
	rc = 0;
out:
	free(tmp);
	free(dir);
	return rc;
}
