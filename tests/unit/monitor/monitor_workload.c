/*
 * monitor_workload - runs a command as a process of a container region
 * WITHOUT libvxpu: what a workload that escaped the preload looks like to
 * the node agent. The integration test of the watchdog uses it.
 *
 *   monitor_workload REGION --limit SIZE [--core PCT] [--device N] -- CMD [ARG]...
 *
 * Creates REGION as a managed region whose device 0 is the node's device N
 * (its UUID from discovery: $VXPU_BACKEND, default sim, with
 * $VXPU_SIM_LIB_DIR), with memory limit SIZE and compute limit PCT. Then
 * it forks CMD and, before letting it exec, claims a slot of the region for
 * CMD's pid and records that pid as its host PID, as libvxpu and the agent
 * would have; this process holds the slot (its lock) while CMD runs, so
 * the monitor sees a live process of the container. Prints
 * "pid=PID slot=SLOT" once CMD is attached, and exits with CMD's status
 * (128 + the signal when CMD was killed).
 */
#include "core/percent.h"
#include "core/size.h"
#include "limiter/region.h"
#include "node/discover.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int usage(const char *why)
{
	fprintf(stderr,
	        "monitor_workload: %s\nusage: monitor_workload REGION --limit SIZE [--core PCT] "
	        "[--device N] -- CMD [ARG]...\n",
	        why);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage("missing REGION");
	const char *path = argv[1];
	uint64_t limit = 0;
	int core = 0;
	unsigned long device = 0;
	char why[256];
	int i = 2;
	for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
		if (i + 1 >= argc)
			return usage("a flag needs a value");
		if (strcmp(argv[i], "--limit") == 0) {
			if (vxpu_size_parse(argv[i + 1], VXPU_SIZE_BARE_MIB, &limit, why,
			                    sizeof(why)) != 0)
				return usage(why);
		} else if (strcmp(argv[i], "--core") == 0) {
			if (vxpu_percent_parse(argv[i + 1], &core, why, sizeof(why)) != 0)
				return usage(why);
		} else if (strcmp(argv[i], "--device") == 0) {
			char *end;
			errno = 0;
			device = strtoul(argv[i + 1], &end, 10);
			if (errno || *end || device >= VXPU_FOUND_MAX_DEVICES)
				return usage("bad --device");
		} else {
			return usage("unknown flag");
		}
	}
	if (limit == 0)
		return usage("--limit is required");
	if (i + 1 >= argc)
		return usage("missing -- CMD");
	char **cmd = argv + i + 1;

	struct vxpu_discover_options opts = {.backend = VXPU_BACKEND_SIM};
	const char *backend = getenv("VXPU_BACKEND");
	if (backend && *backend && vxpu_backend_parse(backend, &opts.backend) != 0)
		return usage("bad VXPU_BACKEND");
	static struct vxpu_discovery disc;
	if (vxpu_discover(&opts, &disc, why, sizeof(why)) != 0) {
		fprintf(stderr, "monitor_workload: %s\n", why);
		return 1;
	}
	if (device >= disc.count)
		return usage("--device: no such device");

	struct vxpu_region_init init;
	vxpu_region_init_default(&init);
	init.managed = true;
	init.memory_limit[0] = limit;
	init.uuid_set[0] = vxpu_region_parse_uuid(disc.devices[device].uuid, init.uuid[0]) == 0;
	struct vxpu_region r;
	if (vxpu_region_open(&r, path, VXPU_REGION_OPEN_CREATE, &init, why, sizeof(why)) != 0) {
		fprintf(stderr, "monitor_workload: %s\n", why);
		return 1;
	}
	atomic_store(&r.devices[0].core_limit, (uint32_t)core);

	int go[2];
	if (pipe(go) != 0) {
		perror("monitor_workload: pipe");
		return 1;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("monitor_workload: fork");
		return 1;
	}
	if (child == 0) {
		close(go[1]);
		char byte;
		if (read(go[0], &byte, 1) != 1)
			_exit(127);
		close(go[0]);
		unsetenv("LD_PRELOAD"); /* the point: no libvxpu */
		execvp(cmd[0], cmd);
		perror("monitor_workload: exec");
		_exit(127);
	}
	close(go[0]);
	uint32_t generation;
	int slot = vxpu_region_claim(&r, (int32_t)child, &generation);
	if (slot < 0 ||
	    vxpu_region_set_host_pid(&r, (unsigned)slot, generation, (int32_t)child) != 0) {
		fprintf(stderr, "monitor_workload: cannot attach pid %d to %s\n", (int)child, path);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return 1;
	}
	printf("pid=%d slot=%d\n", (int)child, slot);
	fflush(stdout);
	if (write(go[1], "g", 1) != 1) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return 1;
	}
	close(go[1]);
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	vxpu_region_release(&r, (unsigned)slot);
	vxpu_region_close(&r);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
