/*
 * main.c - the `vxpu` command: global flags, subcommand dispatch, help and
 * version. Every subcommand is an entry in command_table; the dispatcher
 * owns --help handling so that every command answers it the same way.
 */
#include "cli/cli.h"
#include "common/log.h"
#include "version.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmd_help_run(int argc, char **argv);
static int cmd_version_run(int argc, char **argv);

static const struct vxpu_command vxpu_cmd_help = {
        .name = "help",
        .summary = "show help for vxpu or for one command",
        .usage = "usage: vxpu help [COMMAND]\n"
                 "\n"
                 "Without COMMAND, lists the commands. With COMMAND, shows its usage.\n",
        .run = cmd_help_run,
};

static const struct vxpu_command vxpu_cmd_version = {
        .name = "version",
        .summary = "print the version and the git commit it was built from",
        .usage = "usage: vxpu version\n"
                 "\n"
                 "Prints: vxpu VERSION (commit COMMIT)\n",
        .run = cmd_version_run,
};

VXPU_REGISTER_COMMAND(vxpu_cmd_help);
VXPU_REGISTER_COMMAND(vxpu_cmd_version);

/* Bounds of the vxpu_commands section, provided by the linker. */
extern const struct vxpu_command *const __start_vxpu_commands[];
extern const struct vxpu_command *const __stop_vxpu_commands[];

#define COMMAND_MAX 64
static const struct vxpu_command *command_table[COMMAND_MAX];
static size_t command_count;

static int command_cmp(const void *a, const void *b)
{
	const struct vxpu_command *const *x = a, *const *y = b;
	return strcmp((*x)->name, (*y)->name);
}

/* Collects the registered commands, sorted by name (`vxpu --help` order). */
static void command_table_load(void)
{
	for (const struct vxpu_command *const *p = __start_vxpu_commands;
	     p < __stop_vxpu_commands && command_count < COMMAND_MAX; p++)
		command_table[command_count++] = *p;
	qsort(command_table, command_count, sizeof(command_table[0]), command_cmp);
}

static const struct vxpu_command *command_find(const char *name)
{
	for (size_t i = 0; i < command_count; i++)
		if (strcmp(command_table[i]->name, name) == 0)
			return command_table[i];
	return NULL;
}

static void print_main_usage(FILE *out)
{
	fprintf(out, "usage: vxpu [--help] [--version] COMMAND [ARGS...]\n"
	             "\n"
	             "vxpu shares GPUs and other AI accelerators by fractions (memory in MiB,\n"
	             "compute in 1%% steps), isolates each fraction and meters its use.\n"
	             "\n"
	             "Commands:\n");
	for (size_t i = 0; i < command_count; i++)
		fprintf(out, "  %-10s %s\n", command_table[i]->name, command_table[i]->summary);
	fprintf(out, "\n"
	             "Run 'vxpu help COMMAND' or 'vxpu COMMAND --help' for a command's usage.\n"
	             "Environment: VXPU_LOG=off|error|warn|info|debug (default warn).\n"
	             "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static void vfail(const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "vxpu%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int vxpu_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(cmd, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Run 'vxpu%s%s --help' for usage.\n", cmd ? " " : "", cmd ? cmd : "");
	return VXPU_EXIT_USAGE;
}

int vxpu_cli_fail(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(cmd, fmt, ap);
	va_end(ap);
	return VXPU_EXIT_FAILURE;
}

bool vxpu_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

int vxpu_cli_print_usage(const struct vxpu_command *cmd)
{
	fputs(cmd->usage, stdout);
	return VXPU_EXIT_OK;
}

static int cmd_help_run(int argc, char **argv)
{
	if (argc == 1) {
		print_main_usage(stdout);
		return VXPU_EXIT_OK;
	}
	if (argc > 2)
		return vxpu_cli_usage_error("help", "unexpected argument \"%s\"", argv[2]);
	const struct vxpu_command *cmd = command_find(argv[1]);
	if (!cmd)
		return vxpu_cli_usage_error("help", "unknown command \"%s\"", argv[1]);
	return vxpu_cli_print_usage(cmd);
}

static int cmd_version_run(int argc, char **argv)
{
	if (argc > 1)
		return vxpu_cli_usage_error("version", "unexpected argument \"%s\"", argv[1]);
	printf("vxpu %s (commit %s)\n", VXPU_VERSION, VXPU_GIT_COMMIT);
	return VXPU_EXIT_OK;
}

int main(int argc, char **argv)
{
	command_table_load();
	if (argc < 2) {
		print_main_usage(stderr);
		return VXPU_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
		print_main_usage(stdout);
		return VXPU_EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0)
		return cmd_version_run(1, argv + 1);
	if (name[0] == '-')
		return vxpu_cli_usage_error(NULL, "unknown flag \"%s\"", name);
	const struct vxpu_command *cmd = command_find(name);
	if (!cmd)
		return vxpu_cli_usage_error(NULL, "unknown command \"%s\"", name);
	if (cmd != &vxpu_cmd_help && !cmd->answers_help && vxpu_cli_wants_help(argc - 1, argv + 1))
		return vxpu_cli_print_usage(cmd);
	return cmd->run(argc - 1, argv + 1);
}
