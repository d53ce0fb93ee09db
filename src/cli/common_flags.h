/*
 * common_flags.h - flags that several subcommands share, parsed one way.
 */
#ifndef VXPU_CLI_COMMON_FLAGS_H
#define VXPU_CLI_COMMON_FLAGS_H

#include "node/discover.h"

/* Fills opts from the environment (VXPU_BACKEND, VXPU_INVENTORY).
 * Returns -1 when VXPU_BACKEND holds an unknown name. */
int vxpu_cli_discover_defaults(struct vxpu_discover_options *opts);

/*
 * Recognises --backend B / --backend=B / --inventory F / --inventory=F at
 * argv[i]. Returns how many arguments it consumed (0 = not a discovery
 * flag), or -1 after printing a usage error naming the flag and value.
 */
int vxpu_cli_discover_flag(const char *cmd, int argc, char **argv, int i,
			   struct vxpu_discover_options *opts);

#endif
