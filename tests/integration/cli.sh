#!/usr/bin/env bash
# The vxpu command's contract: help, version, exit codes, usage errors.
source "$(dirname "$0")/lib.sh"

expect_exit 0 "$VXPU" --help || true
expect_output "Commands:" || true
expect_output "version" || true
expect_output "help" || true

expect_exit 0 "$VXPU" help version || true
expect_output "usage: vxpu version" || true

expect_exit 0 "$VXPU" version || true
expect_output "vxpu 0." || true
expect_output "(commit " || true

expect_exit 0 "$VXPU" version --help || true
expect_output "usage: vxpu version" || true

expect_exit 2 "$VXPU" bogus || true
expect_output 'unknown command "bogus"' || true
expect_output "vxpu --help" || true

expect_exit 2 "$VXPU" --bogus-flag || true
expect_output '"--bogus-flag"' || true

expect_exit 2 "$VXPU" help bogus || true
expect_output '"bogus"' || true

expect_exit 2 "$VXPU" version extra || true
expect_output '"extra"' || true
expect_output "vxpu version --help" || true

expect_exit 2 "$VXPU" || true
expect_output "usage: vxpu" || true

finish
