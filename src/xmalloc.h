/*
 * xmalloc: allocation that cannot fail. On exhaustion the process logs and aborts,
 * so callers never test the result for NULL (OpenSMTPD, tmux).
 */
#ifndef RELAYD_XMALLOC_H
#define RELAYD_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
/* xreallocarray: realloc for nmemb*size, aborting on overflow. */
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* xasprintf: a newly allocated formatted string; the caller frees it. */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
