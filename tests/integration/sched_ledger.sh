#!/usr/bin/env bash
# sched_ledger.sh - the cluster scheduler's ledger, end to end: the
# scheduler's ledger test (pods bound through the extender against the test
# API server, some deleted or finished, the scheduler restarted; see
# tests/unit/sched/test_sched_scheduler.c) writes a ledger file, then
# `vxpu report --ledger FILE` reads it: per project, per user, and the
# allocation's share of the device.
# timeout: 120
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/cluster.db"

expect_exit 0 env VXPU_TEST_LEDGER="$db" "$BUILD/tests/unit/sched/test_sched_ledger" || true
expect_output "[  PASSED  ] 1 test(s)." || true

# Four pods of namespace team-a: projects vision (2), default (1), speech (1).
expect_exit 0 "$VXPU" report --ledger "$db" --by project --format csv || true
expect_output "team-a,vision," || true
expect_output "team-a,speech," || true
expect_output "team-a,default," || true
expect_exit 0 "$VXPU" report --ledger="$db" --by user --format json || true
expect_output '"alice"' || true
expect_output '"unknown"' || true
# Every interval is one 4000 MiB share of a 15360 MiB Tesla T4.
expect_exit 0 "$VXPU" report --ledger "$db" --by model --format csv || true
expect_output "Tesla T4," || true

# A ledger that does not exist is an empty report, and is not created.
expect_exit 0 "$VXPU" report --ledger "$tmp/none.db" --format csv || true
[ ! -e "$tmp/none.db" ] && PASSES=$((PASSES + 1)) || {
	echo "FAIL: report created $tmp/none.db"
	FAILS=$((FAILS + 1))
}
expect_exit 2 "$VXPU" report --ledger "" || true
expect_output "--ledger needs a non-empty value" || true

# The scheduler's flags for it.
expect_exit 2 "$VXPU" scheduler --ledger "$db" --no-ledger || true
expect_output "--ledger and --no-ledger" || true
expect_exit 2 "$VXPU" scheduler --project-label "bad label" || true
expect_output "--project-label" || true
finish
