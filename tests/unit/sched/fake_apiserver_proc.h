/*
 * fake_apiserver_proc.h - runs the test API server (fake_apiserver.py,
 * Debian's /usr/bin/python3, loopback only) as a child process for the
 * scheduler's tests and benchmark. The server prints "PORT N" when it
 * listens and exits when its stdin closes or its lifetime runs out, so a
 * crashed test leaves nothing behind for long.
 */
#ifndef VXPU_TEST_FAKE_APISERVER_PROC_H
#define VXPU_TEST_FAKE_APISERVER_PROC_H

#include <sys/types.h>

struct fake_apiserver {
	pid_t pid;
	int in_fd; /* the server's stdin */
	int port;
	char url[64]; /* http://127.0.0.1:PORT */
};

/*
 * Starts script with --lifetime lifetime_s and the space-separated extra
 * arguments (NULL for none), and waits for its port. Returns 0, or -1 when
 * it cannot be started or says no port.
 */
int fake_apiserver_start(struct fake_apiserver *f, const char *script, int lifetime_s,
                         const char *extra);

/* Closes its stdin, waits up to 2 s for it to exit, then kills it. */
void fake_apiserver_stop(struct fake_apiserver *f);

#endif
