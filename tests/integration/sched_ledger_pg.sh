#!/usr/bin/env bash
# sched_ledger_pg.sh - the ledger's PostgreSQL backend (libpq), against a
# throw-away server this script starts (initdb into a temporary directory,
# a Unix socket only, trust authentication; as root the server runs as
# nobody, since postgres refuses root). Skipped (exit 77) when no
# PostgreSQL server is installed: the build does not depend on one.
#   - the scheduler's ledger test with --ledger postgresql://...: intervals
#     started at bind, ended on delete / finish / restart, no duplicates;
#   - `vxpu report --ledger URI` over them;
#   - the ledger API through ledger_fixture: starts, samples, ends, a
#     duplicate refused, an end before the start refused;
#   - a password in the URI never appears in a message.
# timeout: 120
source "$(dirname "$0")/lib.sh"

initdb=$(command -v initdb 2>/dev/null ||
	ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$initdb" ] || [ ! -x "$initdb" ] || ! command -v psql >/dev/null; then
	echo "SKIP: no PostgreSQL server (initdb) or psql installed"
	exit 77
fi
pgbin=$(dirname "$initdb")
as_pg=()
if [ "$(id -u)" = 0 ]; then
	if ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
		echo "SKIP: running as root without a 'nobody' user to run postgres as"
		exit 77
	fi
	as_pg=(setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups --)
fi

tmp=$(mktemp -d)
chmod 755 "$tmp"
mkdir "$tmp/data" "$tmp/sock"
[ "$(id -u)" = 0 ] && chown nobody "$tmp/data" "$tmp/sock"
stop_server() {
	"${as_pg[@]}" "$pgbin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap stop_server EXIT
"${as_pg[@]}" env HOME="$tmp" "$initdb" -D "$tmp/data" -A trust -U vxpu -E UTF8 --no-sync \
	>"$tmp/initdb.log" 2>&1 || {
	cat "$tmp/initdb.log"
	echo "FAIL: initdb"
	exit 1
}
started=0
for attempt in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 30000))
	if "${as_pg[@]}" env HOME="$tmp" "$pgbin/pg_ctl" -D "$tmp/data" -w -t 30 \
		-l "$tmp/data/server.log" \
		-o "-k $tmp/sock -p $port -c listen_addresses='' -c fsync=off" start >/dev/null; then
		started=1
		break
	fi
done
if [ "$started" != 1 ]; then
	cat "$tmp/data/server.log"
	echo "FAIL: the PostgreSQL server did not start"
	exit 1
fi
uri="postgresql://vxpu@/postgres?host=$tmp/sock&port=$port"

# The scheduler writes, the report reads.
expect_exit 0 env VXPU_TEST_LEDGER="$uri" "$BUILD/tests/unit/sched/test_sched_ledger" || true
expect_output "[  PASSED  ] 1 test(s)." || true
expect_exit 0 "$VXPU" report --ledger "$uri" --by project --format csv || true
expect_output "team-a,vision," || true
expect_output "team-a,speech," || true
expect_output "team-a,default," || true

# The ledger API over PostgreSQL: one 8000 of 16000 MiB interval, 2 hours,
# used half of its share for its one sampled minute.
fixture="$BUILD/tests/unit/meter/ledger_fixture"
expect_exit 0 "$fixture" "$uri" start a1 0 host-1 GPU-1 A100 16000 8000 50 acme ml ann -2h || true
expect_exit 1 "$fixture" "$uri" start a1 0 host-1 GPU-1 A100 16000 8000 50 acme ml ann -2h || true
expect_output "already recorded" || true
minute=$(date -u -d '-90 min' +%Y-%m-%dT%H:%M:00Z)
expect_exit 0 "$fixture" "$uri" sample a1 0 "$minute" 4000 25 || true
expect_exit 1 "$fixture" "$uri" end a1 -3h - || true
expect_output "before its start" || true
expect_exit 0 "$fixture" "$uri" end a1 now 0 || true
expect_exit 0 "$VXPU" report --ledger "$uri" --by tenant --format json || true
expect_output '"acme"' || true
expect_exit 0 "$VXPU" report --ledger "$uri" --by model --format csv || true
expect_output "A100," || true

# A password is masked in every message; a database without the ledger's
# tables is an empty report, and nothing is created in it.
psql -qtA "$uri" -c "CREATE DATABASE empty" >/dev/null
expect_exit 0 "$VXPU" report --ledger "postgresql://vxpu:s3cret@/empty?host=$tmp/sock&port=$port" \
	--format csv || true
tables=$(psql -qtA "postgresql://vxpu@/empty?host=$tmp/sock&port=$port" \
	-c "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
[ "$tables" = 0 ] && PASSES=$((PASSES + 1)) || {
	echo "FAIL: report created $tables tables"
	FAILS=$((FAILS + 1))
}
expect_exit 1 "$VXPU" report --ledger "postgresql://vxpu:s3cret@/nosuchdb?host=$tmp/sock&port=$port" || true
expect_output "vxpu:***@" || true
if [[ "$OUT" == *s3cret* ]]; then
	echo "FAIL: the password shows in: $OUT"
	FAILS=$((FAILS + 1))
else
	PASSES=$((PASSES + 1))
fi
finish
