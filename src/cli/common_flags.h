/*
 * common_flags.h - flags that several subcommands share, parsed one way.
 */
#ifndef VXPU_CLI_COMMON_FLAGS_H
#define VXPU_CLI_COMMON_FLAGS_H

#include "node/discover.h"

#include <stdbool.h>

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

/*
 * "--name VALUE" / "--name=VALUE" at argv[*i]. *matched tells whether argv[*i]
 * is this flag at all; the value is returned (for the two-word form *i is
 * advanced past it), or NULL when the flag is given without one.
 */
const char *vxpu_cli_flag_value(int argc, char **argv, int *i, const char *name, bool *matched);

#endif
