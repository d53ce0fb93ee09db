/*
 * cli.h - what every `vxpu` subcommand shares: the command table entry,
 * exit codes, and the usage-error convention.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 usage error. A usage error
 * names the bad flag or value and points to `vxpu CMD --help`.
 *
 * A subcommand lives in its own file src/cli/cmd_NAME.c (picked up by the
 * build), defines its struct vxpu_command and registers it with
 * VXPU_REGISTER_COMMAND(var). Registration puts a pointer into the
 * vxpu_commands linker section, so adding a command touches no shared file;
 * main.c lists the section sorted by name.
 */
#ifndef VXPU_CLI_CLI_H
#define VXPU_CLI_CLI_H

#include <stdbool.h>

enum {
	VXPU_EXIT_OK = 0,
	VXPU_EXIT_FAILURE = 1,
	VXPU_EXIT_USAGE = 2,
};

struct vxpu_command {
	const char *name;
	const char *summary; /* one line for `vxpu --help` */
	const char *usage;   /* full text for `vxpu help NAME` / `vxpu NAME --help` */
	/* argv[0] is the subcommand name; argv[argc] is NULL. */
	int (*run)(int argc, char **argv);
	/*
	 * The command has parts with their own usage (`vxpu node monitor --help`):
	 * main leaves --help to run() instead of printing `usage` itself.
	 */
	bool answers_help;
};

#define VXPU_REGISTER_COMMAND(var)                                                                 \
	static const struct vxpu_command *const vxpu_command_entry_##var                           \
	        __attribute__((used, section("vxpu_commands"), aligned(sizeof(void *)))) = &var

/* Prints "vxpu CMD: MESSAGE" and the --help hint to stderr; returns 2. */
int vxpu_cli_usage_error(const char *cmd, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Prints "vxpu CMD: MESSAGE" to stderr; returns 1. */
int vxpu_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True when argv holds -h or --help before any "--". */
bool vxpu_cli_wants_help(int argc, char **argv);

/* Prints a command's usage text to stdout; returns 0. */
int vxpu_cli_print_usage(const struct vxpu_command *cmd);

#endif
