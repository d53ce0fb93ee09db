/*
 * fake_apiserver_proc.c - see fake_apiserver_proc.h.
 */
#include "fake_apiserver_proc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int fake_apiserver_start(struct fake_apiserver *f, const char *script, int lifetime_s,
                         const char *extra)
{
	int in[2], out[2];
	if (pipe(in) < 0)
		return -1;
	if (pipe(out) < 0) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	char lifetime[16], args[1024];
	snprintf(lifetime, sizeof(lifetime), "%d", lifetime_s);
	snprintf(args, sizeof(args), "%s", extra ? extra : "");
	char *argv[32] = {"/usr/bin/python3", (char *)script, "--lifetime", lifetime};
	int argc = 4;
	for (char *tok = strtok(args, " "); tok && argc < 31; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	f->pid = fork();
	if (f->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (f->pid < 0) {
		close(in[1]);
		close(out[0]);
		return -1;
	}
	f->in_fd = in[1];
	FILE *rd = fdopen(out[0], "r");
	char line[64] = "";
	f->port = 0;
	int ok = rd && fgets(line, sizeof(line), rd) && sscanf(line, "PORT %d", &f->port) == 1;
	if (rd)
		fclose(rd);
	else
		close(out[0]);
	if (!ok) {
		fake_apiserver_stop(f);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", f->port);
	return 0;
}

void fake_apiserver_stop(struct fake_apiserver *f)
{
	close(f->in_fd); /* the server exits when its stdin closes */
	int st;
	for (int i = 0; i < 100; i++) {
		if (waitpid(f->pid, &st, WNOHANG) == f->pid)
			return;
		usleep(20000);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
}
