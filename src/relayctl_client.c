/*
 * relayctl_client: connect, send one request line, read one answer line.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "relayctl_client.h"
#include "xmalloc.h"

#define RELAYCTL_DEFAULT_SOCKET	"/run/relayd/control.sock"

static char *relayctl_sock;

void
relayctl_client_socket(const char *path)
{
	free(relayctl_sock);
	relayctl_sock = xstrdup(path);
}

int
relayctl_client_socket_from_config(const char *path, int given)
{
	char *s;

	/* An operator in the control group may not read a 0640 root:relayd config:
	 * without -c, the default socket is where relayd listens unless told otherwise. */
	if (!given && access(path, R_OK) == -1 && errno == EACCES) {
		relayctl_client_socket(RELAYCTL_DEFAULT_SOCKET);
		return 0;
	}
	if ((s = relayctl_client_config_string(path, "control_socket",
	    RELAYCTL_DEFAULT_SOCKET)) == NULL)
		return -1;
	relayctl_client_socket(s);
	free(s);
	return 0;
}

char *
relayctl_client_config_string(const char *path, const char *key, const char *dflt)
{
	config_t cf;
	const char *s = NULL;
	char *v;

	config_init(&cf);
	if (!config_read_file(&cf, path)) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			fprintf(stderr, "relayctl: cannot read %s: %s\n", path, strerror(errno));
		else
			fprintf(stderr, "relayctl: %s:%d: %s\n", path, config_error_line(&cf),
			    config_error_text(&cf));
		config_destroy(&cf);
		return NULL;
	}
	if (!config_lookup_string(&cf, key, &s))
		s = dflt;
	v = xstrdup(s);
	config_destroy(&cf);
	return v;
}

/* relayctl_client_connect: a connected socket, or -1 after saying why. */
static int
relayctl_client_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = relayctl_sock ? relayctl_sock : RELAYCTL_DEFAULT_SOCKET;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "relayctl: socket path %s is too long\n", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int e = errno;

		fprintf(stderr, "relayctl: cannot reach relayd at %s: %s%s\n", path, strerror(e),
		    e == ENOENT || e == ECONNREFUSED ? " (is relayd running? is this its "
		    "control_socket? use -c CONFIG or -s SOCKET)" : e == EACCES ? " (you need "
		    "to be in the service's group, or root)" : "");
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
relayctl_client_call(const char *cmd, json_t *args, json_t **result)
{
	json_t *req, *ans;
	json_error_t jerr;
	char *line, buf[4096];
	size_t len = 0, cap = 0;
	char *resp = NULL;
	ssize_t n;
	int fd;

	*result = NULL;
	if ((fd = relayctl_client_connect()) == -1)
		return 69;
	req = json_pack("{s:i, s:s, s:o}", "v", CONTROL_VERSION, "cmd", cmd, "args",
	    args ? json_incref(args) : json_object());
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	dprintf(fd, "%s\n", line);
	free(line);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (len + (size_t)n + 1 > cap) {
			cap = (len + (size_t)n + 1) * 2;
			resp = xrealloc(resp, cap);
		}
		memcpy(resp + len, buf, (size_t)n);
		len += (size_t)n;
	}
	close(fd);
	if (resp == NULL) {
		fprintf(stderr, "relayctl: relayd closed the connection without answering\n");
		return 70;
	}
	resp[len] = '\0';
	ans = json_loads(resp, 0, &jerr);
	free(resp);
	if (ans == NULL) {
		fprintf(stderr, "relayctl: relayd's answer is not JSON: %s\n", jerr.text);
		return 70;
	}
	if (!json_is_true(json_object_get(ans, "ok"))) {
		const char *e = json_string_value(json_object_get(ans, "error"));
		char shown[64];

		/* The command as the operator typed it ("queue delete"), not the
		 * control protocol's name for it ("queue-delete"). */
		snprintf(shown, sizeof(shown), "%s", cmd);
		for (char *p = shown; *p != '\0'; p++)
			if (*p == '-')
				*p = ' ';
		const char *kind = json_string_value(json_object_get(ans, "kind"));
		int rc = kind == NULL ? 70 : strcmp(kind, "nouser") == 0 ? 67 :
		    strcmp(kind, "dataerr") == 0 ? 65 : 70;

		fprintf(stderr, "relayctl: %s: %s\n", shown, e ? e : "failed");
		json_decref(ans);
		return rc;
	}
	*result = json_incref(json_object_get(ans, "result"));
	json_decref(ans);
	if (*result == NULL)
		*result = json_object();
	return 0;
}

void
relayctl_client_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	printf("%s\n", s ? s : "null");
	free(s);
}
