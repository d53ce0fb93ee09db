/*
 * node_monitor.h - `vxpu node monitor`: the per-container monitor and the
 * bypass watchdog (src/node/monitor.h) as a command of its own, and its
 * flags for the node agent, which runs the same monitor in its process.
 *
 *   vxpu node monitor --regions DIR [--listen HOST:PORT] [--backend B]
 *                     [--inventory FILE] [--node NAME] [--interval D]
 *                     [--enforce] [--memory-margin PCT] [--memory-window D]
 *                     [--compute-margin PCT] [--compute-window D]
 *                     [--duration D]
 *
 * The dispatcher (`vxpu node`, cmd_node.c) calls
 * vxpu_node_monitor_command(argc - 1, argv + 1), so argv[0] is "monitor".
 * The agent parses the monitor's own flags among its others with
 * vxpu_node_monitor_flag and turns them into a configuration with
 * vxpu_node_monitor_config (it sets regions_dir itself when the user gave
 * none). Flag values are parsed strictly; a bad one is a usage error (exit
 * 2) naming the flag and the value.
 */
#ifndef VXPU_CLI_NODE_MONITOR_H
#define VXPU_CLI_NODE_MONITOR_H

#include "node/monitor.h"

#include <stdbool.h>
#include <stdint.h>

/* The help text of the monitor's own flags (for the agent's usage). */
extern const char vxpu_node_monitor_flags_help[];

struct vxpu_node_monitor_flags {
	const char *regions_dir;              /* --regions DIR */
	const char *listen;                   /* --listen HOST:PORT (validated) */
	unsigned interval_ms;                 /* --interval D (10ms..1m) */
	struct vxpu_watchdog_policy watchdog; /* --enforce, --*-margin, --*-window */
};

void vxpu_node_monitor_flags_default(struct vxpu_node_monitor_flags *f);

/*
 * Recognises one of the monitor's flags at argv[i] (--regions, --listen,
 * --interval, --enforce, --memory-margin, --memory-window, --compute-margin,
 * --compute-window; "--flag value" and "--flag=value"). Returns how many
 * arguments it consumed (0: not a monitor flag), or -1 after printing a
 * usage error as `vxpu CMD: ...`.
 */
int vxpu_node_monitor_flag(const char *cmd, int argc, char **argv, int i,
                           struct vxpu_node_monitor_flags *f);

/* Fills the monitor fields of cfg from f (regions_dir, listen, interval,
 * watchdog); the rest of cfg (discover, node, callbacks) is left alone. */
void vxpu_node_monitor_config(const struct vxpu_node_monitor_flags *f,
                              struct vxpu_monitor_config *cfg);

/* `vxpu node monitor ...`; argv[0] is "monitor". Exit 0, 1 or 2. */
int vxpu_node_monitor_command(int argc, char **argv);

#endif
