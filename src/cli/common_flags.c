/*
 * common_flags.c - shared flag parsing for the subcommands that discover
 * devices (see common_flags.h).
 */
#include "cli/common_flags.h"

#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

int vxpu_cli_discover_defaults(struct vxpu_discover_options *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->backend = VXPU_BACKEND_AUTO;
	const char *env = getenv("VXPU_BACKEND");
	if (env && *env && vxpu_backend_parse(env, &opts->backend) != 0)
		return -1;
	return 0;
}

/* Matches "--name VALUE" or "--name=VALUE"; sets *value and the count. */
static int flag_value(int argc, char **argv, int i, const char *name, const char **value)
{
	size_t n = strlen(name);
	if (strncmp(argv[i], name, n) != 0)
		return 0;
	if (argv[i][n] == '=') {
		*value = argv[i] + n + 1;
		return 1;
	}
	if (argv[i][n] != '\0')
		return 0;
	if (i + 1 >= argc) {
		*value = NULL;
		return 2;
	}
	*value = argv[i + 1];
	return 2;
}

int vxpu_cli_discover_flag(const char *cmd, int argc, char **argv, int i,
                           struct vxpu_discover_options *opts)
{
	const char *value;
	int used = flag_value(argc, argv, i, "--backend", &value);
	if (used) {
		if (!value) {
			vxpu_cli_usage_error(cmd, "flag --backend needs a value");
			return -1;
		}
		if (vxpu_backend_parse(value, &opts->backend) != 0) {
			vxpu_cli_usage_error(
			        cmd, "invalid --backend \"%s\" (use auto, nvml, sim or inventory)",
			        value);
			return -1;
		}
		return used;
	}
	used = flag_value(argc, argv, i, "--inventory", &value);
	if (used) {
		if (!value || !*value) {
			vxpu_cli_usage_error(cmd, "flag --inventory needs a file");
			return -1;
		}
		opts->inventory_path = value;
		return used;
	}
	return 0;
}

const char *vxpu_cli_flag_value(int argc, char **argv, int *i, const char *name, bool *matched)
{
	size_t n = strlen(name);
	*matched = false;
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=') {
		*matched = true;
		return argv[*i] + n + 1;
	}
	if (argv[*i][n] != '\0')
		return NULL;
	*matched = true;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}
