#!/usr/bin/env bash
# timeout: 120
# `vxpu serve` end to end on the simulated driver, on loopback only: usage
# and start errors; every endpoint's status, content type and fields; the
# JSON API equal to `vxpu devices --json` and `vxpu ps --json`; /metrics
# through promtool (when installed) with a live allocation whose memory use
# comes from its region; nothing stale after the run ends; reports over
# known ledger intervals, with and without a price book; 400, 404 and 405;
# HTTPS (when openssl is installed); a clean exit on SIGTERM and on SIGINT.
source "$(dirname "$0")/lib.sh"

FIXTURE="$BUILD/tests/unit/meter/ledger_fixture"
ALLOC_LOOP="$BUILD/examples/alloc_loop"
SCRATCH=$(mktemp -d /tmp/vxpu-serve-test.XXXXXX)
export VXPU_HOME="$SCRATCH/home"
export VXPU_SIM_STATE=/dev/shm/vxpu-it-serve-$$
export VXPU_BACKEND=sim
unset VXPU_SIM_CONFIG VXPU_INVENTORY CUDA_VISIBLE_DEVICES VXPU_LOG
SERVER_PID=""
RUN_PID=""

cleanup() {
	stop_pid "$RUN_PID"
	stop_pid "$SERVER_PID"
	rm -rf "$SCRATCH"
	rm -f /dev/shm/vxpu-it-serve-$$*
}
trap cleanup EXIT


# start_server LOGFILE ARGS... : starts `vxpu serve` on a free loopback port
# (port 0; the port is read back from the "serving" log line) and sets
# SERVER_PID, PORT and BASE.
start_server() {
	local log=$1
	shift
	VXPU_LOG=info "$VXPU" serve --listen 127.0.0.1:0 "$@" 2>"$log" &
	SERVER_PID=$!
	PORT=""
	for _ in $(seq 1 100); do
		PORT=$(sed -n 's/.*msg=serving address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		[ -n "$PORT" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$PORT" ]; then
		failed "vxpu serve $* did not start:"
		cat "$log"
		return 1
	fi
	pass
}

# http METHOD PATH [CURL ARGS...] : sets STATUS, CTYPE, BODY, HEADERS.
http() {
	local method=$1 path=$2
	shift 2
	local meta how=(-X "$method")
	[ "$method" = HEAD ] && how=(-I)
	meta=$(curl -sS --max-time 10 "${how[@]}" -D "$SCRATCH/headers" -o "$SCRATCH/body" \
		-w '%{http_code} %{content_type}' "$@" "${SCHEME:-http}://127.0.0.1:$PORT$path" 2>&1) ||
		meta="000 curl-failed: $meta"
	STATUS=${meta%% *}
	CTYPE=${meta#* }
	BODY=$(cat "$SCRATCH/body" 2>/dev/null || true)
	HEADERS=$(cat "$SCRATCH/headers" 2>/dev/null || true)
}

# wait_stopped PID : the exit status of a stopping server (bounded, 10 s).
wait_stopped() {
	local pid=$1
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	set +e
	wait "$pid"
	STOPPED=$?
	set -e
}

promtool_check() {
	if ! command -v promtool >/dev/null 2>&1; then
		echo "note: promtool not installed, exposition not linted"
		return 0
	fi
	local out
	if out=$(printf '%s\n' "$BODY" | promtool check metrics 2>&1); then
		pass
	else
		failed "promtool check metrics: $out"
	fi
}

# --- usage errors exit 2 naming the flag; start errors exit 1 -------------
expect_exit 2 "$VXPU" serve --listen nowhere || true
expect_output '--listen: invalid listen address "nowhere"' || true
expect_exit 2 "$VXPU" serve --listen 127.0.0.1:99999 || true
expect_output 'port "99999" is not 0..65535' || true
expect_exit 2 "$VXPU" serve --listen || true
expect_output 'flag --listen needs a value' || true
expect_exit 2 "$VXPU" serve --listen 127.0.0.1:1 --listen 127.0.0.1:2 || true
expect_output '--listen given twice' || true
expect_exit 2 "$VXPU" serve --tls-cert "$SCRATCH/cert.pem" || true
expect_output '--tls-cert needs --tls-key as well' || true
expect_exit 2 "$VXPU" serve --verbose || true
expect_output 'unknown flag "--verbose"' || true
expect_exit 2 "$VXPU" serve now || true
expect_output 'unexpected argument "now"' || true
expect_exit 2 "$VXPU" serve --backend gpu || true
expect_output 'invalid --backend "gpu"' || true
expect_exit 2 "$VXPU" serve --price-book "$SCRATCH/none.json" || true
expect_output '--price-book:' || true
expect_exit 1 "$VXPU" serve --backend inventory --inventory "$SCRATCH/none.json" --listen 127.0.0.1:0 || true
expect_output 'none.json' || true
expect_exit 0 "$VXPU" serve --help || true
expect_output '/api/v1/report' || true

# --- a ledger with known intervals (for the report endpoint) -------------
mkdir -p "$VXPU_HOME"
DB="$VXPU_HOME/vxpu.db"
"$FIXTURE" "$DB" start fx-a 0 node-1 GPU-A "NVIDIA A100-SXM4-80GB" 81920 40960 20 acme vision alice 2026-01-05T10:00:00Z
"$FIXTURE" "$DB" end fx-a 2026-01-05T12:00:00Z 0
"$FIXTURE" "$DB" start fx-b 1 node-1 GPU-B "NVIDIA H100 80GB HBM3" 81920 8192 50 globex search bob 2026-01-05T11:00:00Z
"$FIXTURE" "$DB" end fx-b 2026-01-05T11:30:00Z 0

# --- the server ---------------------------------------------------------------
LOG="$SCRATCH/serve.log"
start_server "$LOG" || { finish; exit 1; }

# A second server on the same port: a start error naming the address.
expect_exit 1 "$VXPU" serve --listen "127.0.0.1:$PORT" || true
expect_output "cannot listen on 127.0.0.1:$PORT: Address already in use" || true

http GET /healthz
same "/healthz status" "$STATUS" 200
same "/healthz content type" "$CTYPE" "text/plain; charset=utf-8"
same "/healthz body" "$BODY" "ok"

http HEAD /healthz
same "HEAD /healthz" "$STATUS" 200

http GET /api/v1/devices
same "/api/v1/devices status" "$STATUS" 200
same "/api/v1/devices content type" "$CTYPE" "application/json"
same "/api/v1/devices equals vxpu devices --json" "$BODY" "$("$VXPU" devices --json)"
has "/api/v1/devices" "$BODY" '"backend":	"sim"'

http GET /api/v1/allocations
same "/api/v1/allocations status" "$STATUS" 200
same "/api/v1/allocations content type" "$CTYPE" "application/json"
has "no allocations" "$BODY" '"allocations":	[]'

http GET /metrics
same "/metrics status" "$STATUS" 200
same "/metrics content type" "$CTYPE" "text/plain; version=0.0.4; charset=utf-8"
has "/metrics build info" "$BODY" 'vxpu_build_info{commit="'
has "/metrics total" "$BODY" 'vxpu_device_memory_total_bytes{index="0",model="VXPU-SIM 16GB",node="'
has "/metrics total value" "$BODY" '"} 17179869184'
has "/metrics healthy" "$BODY" '# TYPE vxpu_device_healthy gauge'
promtool_check

# --- a live allocation: its share and its region's usage -----------------
# In the sanitizer build the sample workload carries ASan while libvxpu.so
# does not: ASan's runtime must come first, before the libvxpu.so that
# vxpu run appends to LD_PRELOAD (for this command only).
ASAN_RT=$(ldd "$ALLOC_LOOP" 2>/dev/null | awk '/libasan/ {print $3}')
LD_PRELOAD="${ASAN_RT:-${LD_PRELOAD:-}}" "$VXPU" run --gpu-mem 2GiB --gpu-cores 30 --tenant acme --project vision --user alice \
	-- "$ALLOC_LOOP" 512MiB --hold 60 >"$SCRATCH/run.out" 2>&1 &
RUN_PID=$!
for _ in $(seq 1 100); do
	http GET /api/v1/allocations
	[[ "$BODY" == *'"used_memory_mib":	512'* ]] && break
	sleep 0.1
done
has "allocation with region usage" "$BODY" '"used_memory_mib":	512'
has "allocation tenant" "$BODY" '"tenant":	"acme"'
has "allocation share" "$BODY" '"memory_mib":	2048'
has "allocation compute" "$BODY" '"compute_percent":	30'
has "allocation started" "$BODY" '"started":	"20'
same "/api/v1/allocations equals vxpu ps --json" "$BODY" "$("$VXPU" ps --json)"
ID=$(sed -n 's/.*"id":	"\([^"]*\)".*/\1/p' <<<"$BODY" | head -n 1)

http GET /metrics
same "/metrics status (allocation)" "$STATUS" 200
has "allocation limit" "$BODY" "vxpu_allocation_memory_limit_bytes{id=\"$ID\",index=\"0\",node="
has "allocation labels" "$BODY" 'project="vision",tenant="acme",user="alice"} 2147483648'
has "allocation used" "$BODY" 'vxpu_allocation_memory_used_bytes{id="'
has "allocation used value" "$BODY" 'user="alice"} 536870912'
has "allocation compute" "$BODY" 'vxpu_allocation_compute_percent{id="'
has "device allocated" "$BODY" 'vxpu_device_memory_allocated_bytes{index="0",model="VXPU-SIM 16GB",node="'
grep -q '^vxpu_device_memory_allocated_bytes{index="0".*} 2147483648$' <<<"$BODY" && pass ||
	failed "device 0 allocated bytes: $BODY"
grep -q '^vxpu_device_allocations{index="0".*} 1$' <<<"$BODY" && pass ||
	failed "device 0 allocations: $BODY"
grep -q '^vxpu_device_memory_used_bytes{index="0".*} 536870912$' <<<"$BODY" && pass ||
	failed "device 0 used bytes: $BODY"
promtool_check

# The run ends: the next request sees no allocation (nothing cached).
stop_pid "$RUN_PID"
wait "$RUN_PID" 2>/dev/null || true
RUN_PID=""
http GET /api/v1/allocations
has "allocation gone" "$BODY" '"allocations":	[]'
http GET /metrics
[[ "$BODY" != *"vxpu_allocation_memory_limit_bytes{"* ]] && pass ||
	failed "stale allocation in /metrics: $BODY"
grep -q '^vxpu_device_allocations{index="0".*} 0$' <<<"$BODY" && pass ||
	failed "device 0 allocations after the run: $BODY"

# --- reports -----------------------------------------------------------------
CR=$'\r'
http GET '/api/v1/report?since=2026-01-05&until=2026-01-06&format=csv'
same "report csv status" "$STATUS" 200
same "report csv content type" "$CTYPE" "text/csv; charset=utf-8; header=present"
same "report csv" "$BODY" "period_start,period_end,tenant,intervals,device_hours,allocated_fraction_hours,used_fraction_hours$CR
2026-01-05T00:00:00.000Z,2026-01-06T00:00:00.000Z,acme,1,2.000000,1.000000,0.000000$CR
2026-01-05T00:00:00.000Z,2026-01-06T00:00:00.000Z,globex,1,0.500000,0.250000,0.000000$CR"
http GET '/api/v1/report?by=user&since=2026-01-05T00:00:00Z&until=2026-01-06T00:00:00Z'
same "report json status" "$STATUS" 200
same "report json content type" "$CTYPE" "application/json"
has "report json" "$BODY" '"by":	"user"'
has "report json window" "$BODY" '"since":	"2026-01-05T00:00:00.000Z"'
has "report json group" "$BODY" '"user":	"alice"'
has "report json total" "$BODY" '"device_hours":	2.5'
http GET '/api/v1/report'
same "report defaults" "$STATUS" 200
has "report by tenant" "$BODY" '"by":	"tenant"'

# Bad parameters: 400 with a JSON error naming the parameter and the value.
bad_param() {
	local query=$1 param=$2 value=$3 message=$4
	http GET "/api/v1/report?$query"
	same "400 for $query" "$STATUS" 400
	same "content type for $query" "$CTYPE" "application/json"
	has "parameter for $query" "$BODY" "\"parameter\":\"$param\""
	has "value for $query" "$BODY" "\"value\":\"$value\""
	has "message for $query" "$BODY" "$message"
}
bad_param 'by=team' by team 'invalid by: want tenant, project, user, device or model'
bad_param 'format=table' format table 'invalid format: want json or csv'
bad_param 'since=yesterday' since yesterday 'since: invalid time \"yesterday\"'
bad_param 'until=2026-02-30' until 2026-02-30 'day 30 does not exist in 2026-02'
bad_param 'since=2026-02-01&until=2026-01-01' since 2026-02-01 'since 2026-02-01 is not before until 2026-01-01'
bad_param 'until=1970-01-01' until 1970-01-01 'since (the beginning) is not before until 1970-01-01'
bad_param 'colour=red' colour red 'unknown query parameter \"colour\" (known: by, since, until, format)'
bad_param 'by=user&by=tenant' by tenant 'query parameter \"by\" given twice'
bad_param 'by=' by '' 'invalid by'
http GET '/api/v1/devices?x=1'
same "devices takes no parameters" "$STATUS" 400

# --- 404 and 405 -----------------------------------------------------------------
http GET /nope
same "404" "$STATUS" 404
same "404 content type" "$CTYPE" "application/json"
same "404 body" "$BODY" '{"error":"no such path \"/nope\""}'
http POST /metrics --data x
same "405" "$STATUS" 405
has "405 Allow" "$HEADERS" "Allow: GET, HEAD"
has "405 body" "$BODY" '"error":"method POST not allowed here (allowed: GET, HEAD)"'

# One access line per request, at info level.
has "access log" "$(cat "$LOG")" 'msg="http request" server=serve remote=127.0.0.1:'
has "access log fields" "$(cat "$LOG")" 'method=GET path=/healthz status=200 bytes=3 ms='
has "access log 404" "$(cat "$LOG")" 'path=/nope status=404'

# --- SIGTERM: a clean stop, and the port is free ------------------------------
kill -TERM "$SERVER_PID"
wait_stopped "$SERVER_PID"
SERVER_PID=""
same "exit status after SIGTERM" "$STOPPED" 0
has "stop logged" "$(cat "$LOG")" 'msg=stopping signal=SIGTERM'
has "stopped logged" "$(cat "$LOG")" 'msg=stopped'
curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/healthz" && failed "still listening after SIGTERM" || pass

# --- HTTPS with a price book, stopped by SIGINT ------------------------------
cat >"$SCRATCH/prices.json" <<'JSON'
{"version": 1, "currency": "EUR",
 "models": {"NVIDIA A100-SXM4-80GB": 2.50, "NVIDIA H100 80GB HBM3": 4.00}}
JSON
if command -v openssl >/dev/null 2>&1; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$SCRATCH/key.pem" -out "$SCRATCH/cert.pem" 2>/dev/null
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-out "$SCRATCH/other.pem" 2>/dev/null
	expect_exit 1 "$VXPU" serve --listen 127.0.0.1:0 --tls-cert "$SCRATCH/cert.pem" --tls-key "$SCRATCH/other.pem" || true
	expect_output 'cannot start the HTTPS server' || true
	expect_exit 1 "$VXPU" serve --listen 127.0.0.1:0 --tls-cert "$SCRATCH/prices.json" --tls-key "$SCRATCH/key.pem" || true
	expect_output 'prices.json": not a PEM file' || true
	LOG2="$SCRATCH/serve-tls.log"
	if start_server "$LOG2" --tls-cert "$SCRATCH/cert.pem" --tls-key "$SCRATCH/key.pem" \
		--price-book "$SCRATCH/prices.json"; then
		has "https scheme logged" "$(cat "$LOG2")" 'scheme=https'
		SCHEME=https http GET /healthz --cacert "$SCRATCH/cert.pem"
		same "https /healthz" "$STATUS $BODY" "200 ok"
		SCHEME=https http GET '/api/v1/report?since=2026-01-05&until=2026-01-06&format=csv' --cacert "$SCRATCH/cert.pem"
		same "https priced report" "$BODY" "period_start,period_end,tenant,intervals,device_hours,allocated_fraction_hours,used_fraction_hours,cost,currency$CR
2026-01-05T00:00:00.000Z,2026-01-06T00:00:00.000Z,acme,1,2.000000,1.000000,0.000000,2.5000,EUR$CR
2026-01-05T00:00:00.000Z,2026-01-06T00:00:00.000Z,globex,1,0.500000,0.250000,0.000000,1.0000,EUR$CR"
		http GET /healthz
		same "plain HTTP to the HTTPS port fails" "${STATUS:0:3}" 000
		kill -INT "$SERVER_PID"
		wait_stopped "$SERVER_PID"
		SERVER_PID=""
		same "exit status after SIGINT" "$STOPPED" 0
		has "SIGINT logged" "$(cat "$LOG2")" 'msg=stopping signal=SIGINT'
	fi
else
	echo "note: openssl not installed, HTTPS not tested"
fi
finish
