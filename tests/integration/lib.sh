# Shared helpers for the integration scripts. Source it; $BUILD is the build dir.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
VXPU="$BUILD/vxpu"
FAILS=0
PASSES=0

# expect_exit CODE CMD... : run CMD, capture stdout+stderr in $OUT, check status.
expect_exit() {
	local want=$1
	shift
	set +e
	OUT=$("$@" 2>&1)
	local got=$?
	set -e
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*' exited $got, want $want; output:"
		echo "$OUT"
		FAILS=$((FAILS + 1))
		return 1
	fi
	PASSES=$((PASSES + 1))
}

# expect_output SUBSTRING : the last $OUT contains SUBSTRING.
expect_output() {
	if [[ "$OUT" != *"$1"* ]]; then
		echo "FAIL: output lacks '$1'; output:"
		echo "$OUT"
		FAILS=$((FAILS + 1))
		return 1
	fi
	PASSES=$((PASSES + 1))
}

finish() {
	echo "$PASSES passed, $FAILS failed"
	[ "$FAILS" = 0 ]
}
