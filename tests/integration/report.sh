#!/usr/bin/env bash
# `vxpu report` end to end: the empty ledger, flag and value errors, exact
# CSV and JSON over intervals written through the ledger API, running
# intervals, price-book and ledger errors. VXPU_HOME points at a scratch
# directory; rows are written by the ledger fixture program.
source "$(dirname "$0")/lib.sh"

FIXTURE="$BUILD/tests/unit/meter/ledger_fixture"
SCRATCH=$(mktemp -d /tmp/vxpu-report-test.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
export VXPU_HOME="$SCRATCH/home"
DB="$VXPU_HOME/vxpu.db"
CR=$'\r'

# --- an empty ledger is an empty report, and creates nothing -------------
expect_exit 0 "$VXPU" report || true
expect_output "Usage by tenant from 1970-01-01T00:00:00.000Z" || true
expect_output "TOTAL           0      0.000000" || true
expect_exit 0 "$VXPU" report --format csv --by user || true
[ "$OUT" = "period_start,period_end,user,intervals,device_hours,allocated_fraction_hours,used_fraction_hours$CR" ] &&
	PASSES=$((PASSES + 1)) || { echo "FAIL: empty CSV: $OUT"; FAILS=$((FAILS + 1)); }
expect_exit 0 "$VXPU" report --format=json --since 2026-01-01 --until 2026-02-01 || true
expect_output '"groups":	[]' || true
expect_output '"since":	"2026-01-01T00:00:00.000Z"' || true
[ ! -e "$VXPU_HOME" ] && PASSES=$((PASSES + 1)) || { echo "FAIL: report created $VXPU_HOME"; FAILS=$((FAILS + 1)); }

# --- usage errors name the flag and the value, exit 2 ---------------------
expect_exit 2 "$VXPU" report --by team || true
expect_output 'invalid --by "team"' || true
expect_exit 2 "$VXPU" report --format yaml || true
expect_output 'invalid --format "yaml"' || true
expect_exit 2 "$VXPU" report --since yesterday || true
expect_output '--since: invalid time "yesterday"' || true
expect_exit 2 "$VXPU" report --until 2026-02-30 || true
expect_output '--until: invalid time "2026-02-30": day 30 does not exist in 2026-02' || true
expect_exit 2 "$VXPU" report --since 2026-02-01 --until 2026-01-01 || true
expect_output '--since 2026-02-01 is not before --until 2026-01-01' || true
expect_exit 2 "$VXPU" report --by tenant --by user || true
expect_output '--by given twice' || true
expect_exit 2 "$VXPU" report --by || true
expect_output '--by needs a value' || true
expect_exit 2 "$VXPU" report --since= || true
expect_output '--since needs a non-empty value' || true
expect_exit 2 "$VXPU" report --frobnicate || true
expect_output 'unknown flag "--frobnicate"' || true
expect_output 'vxpu report --help' || true
expect_exit 2 "$VXPU" report --bytenant || true
expect_output 'unknown flag "--bytenant"' || true
expect_exit 2 "$VXPU" report tenant || true
expect_output 'unexpected argument "tenant"' || true
expect_exit 2 "$VXPU" report --price-book "$SCRATCH/missing.json" || true
expect_output "--price-book: price book $SCRATCH/missing.json: No such file" || true
printf '{"version":1,"currency":"EUR","models":{"A":1},"discount":5}' >"$SCRATCH/bad.json"
expect_exit 2 "$VXPU" report --price-book "$SCRATCH/bad.json" || true
expect_output 'unknown key "discount"' || true
expect_exit 0 "$VXPU" report --help || true
expect_output "usage: vxpu report" || true
expect_exit 1 env VXPU_HOME=relative/dir "$VXPU" report || true
expect_output 'invalid VXPU_HOME "relative/dir"' || true

# --- known intervals: exact CSV, JSON and table ---------------------------
A100="NVIDIA A100-SXM4-80GB"
H100="NVIDIA H100 80GB HBM3"
"$FIXTURE" "$DB" start x1 0 node-a GPU-A "$A100" 81920 40960 20 acme vision alice 2026-01-05T10:00:00Z
"$FIXTURE" "$DB" sample x1 0 2026-01-05T10:00:00Z 81920 0
"$FIXTURE" "$DB" end x1 2026-01-05T12:00:00Z 0
"$FIXTURE" "$DB" start x2 1 node-a GPU-B "$H100" 81920 8192 50 globex search bob@example.com 2026-01-05T11:00:00Z
"$FIXTURE" "$DB" end x2 2026-01-05T11:30:00Z 137
cat >"$SCRATCH/prices.json" <<JSON
{
  "version": 1,
  "currency": "EUR",
  "models": {"$A100": 2.5, "$H100": 4}
}
JSON
WINDOW=(--since 2026-01-05 --until 2026-01-06 --price-book "$SCRATCH/prices.json")
expect_exit 0 "$VXPU" report "${WINDOW[@]}" --format csv || true
WANT="period_start,period_end,tenant,intervals,device_hours,allocated_fraction_hours,used_fraction_hours,cost,currency$CR
2026-01-05T00:00:00.000Z,2026-01-06T00:00:00.000Z,acme,1,2.000000,1.000000,0.016667,2.5000,EUR$CR
2026-01-05T00:00:00.000Z,2026-01-06T00:00:00.000Z,globex,1,0.500000,0.250000,0.000000,1.0000,EUR$CR"
[ "$OUT" = "$WANT" ] && PASSES=$((PASSES + 1)) || { echo "FAIL: CSV by tenant:"; echo "$OUT" | cat -A; FAILS=$((FAILS + 1)); }

expect_exit 0 "$VXPU" report "${WINDOW[@]}" --format csv --by device || true
expect_output "node-a,0,GPU-A,$A100,1,2.000000,1.000000,0.016667,2.5000,EUR$CR" || true
expect_output "node-a,1,GPU-B,$H100,1,0.500000,0.250000,0.000000,1.0000,EUR$CR" || true

expect_exit 0 "$VXPU" report "${WINDOW[@]}" --format json --by user || true
expect_output '"currency":	"EUR"' || true
expect_output '"user":	"alice"' || true
expect_output '"user":	"bob@example.com"' || true
expect_output '"device_hours":	2.5' || true
expect_output '"cost":	3.5' || true

expect_exit 0 "$VXPU" report "${WINDOW[@]}" --by project || true
expect_output "acme    vision" || true
expect_output "COST (EUR)" || true
expect_output "TOTAL" || true

# A window that clips x1 to its second hour.
expect_exit 0 "$VXPU" report --since 2026-01-05T11:00:00Z --until 2026-01-05T12:00:00Z --format csv --by model || true
expect_output ",$A100,1,1.000000,0.500000,0.000000$CR" || true
expect_output ",$H100,1,0.500000,0.250000,0.000000$CR" || true

# A model the price book does not know, without a default: runtime error.
printf '{"version":1,"currency":"EUR","models":{"%s":2.5}}' "$A100" >"$SCRATCH/partial.json"
expect_exit 1 "$VXPU" report --since 2026-01-05 --until 2026-01-06 --price-book "$SCRATCH/partial.json" || true
expect_output "no price for device model \"$H100\" and no default" || true
printf '{"version":1,"currency":"EUR","models":{"%s":2.5},"default":1}' "$A100" >"$SCRATCH/default.json"
expect_exit 0 "$VXPU" report --since 2026-01-05 --until 2026-01-06 --price-book "$SCRATCH/default.json" --format csv || true
expect_output "globex,1,0.500000,0.250000,0.000000,0.2500,EUR$CR" || true

# --- a running interval counts up to now ----------------------------------
"$FIXTURE" "$DB" start r1 2 node-a GPU-C "$A100" 81920 81920 100 initech ops carol -2h
expect_exit 0 "$VXPU" report --since -3h --format csv || true
HOURS=$(printf '%s\n' "$OUT" | awk -F, '$3 == "initech" { print $5 }')
awk -v h="$HOURS" 'BEGIN { exit !(h >= 2.0 && h < 2.05) }' && PASSES=$((PASSES + 1)) ||
	{ echo "FAIL: running interval counted $HOURS device-hours, want about 2"; FAILS=$((FAILS + 1)); }

# --- a corrupt ledger is refused, named, and left untouched ---------------
cp "$DB" "$SCRATCH/good.db"
head -c 8192 /dev/urandom >"$DB"
rm -f "$DB-wal" "$DB-shm"
cp "$DB" "$SCRATCH/corrupt.db"
expect_exit 1 "$VXPU" report || true
expect_output "ledger $DB" || true
expect_output "left untouched" || true
cmp -s "$DB" "$SCRATCH/corrupt.db" && PASSES=$((PASSES + 1)) || { echo "FAIL: corrupt ledger was modified"; FAILS=$((FAILS + 1)); }

finish
