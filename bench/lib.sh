#!/bin/bash
# The case runner bench/run.sh and bench/images.sh share; sourced, not run. The caller sets
# RUNS (timed runs per case) and work (a scratch directory it removes), then registers cases
# with add_case / add_case_prep and calls run_cases; each call of run_cases appends one line
# "label|min ms|median ms|runs timed|runs failed" per case to $work/results, and print_results
# prints them all as a markdown table, with what failed runs said.

now_ns() { date +%s%N; }

# Cases are registered, then run interleaved (A B A B ...) so that host noise falls on every case
# alike; each case's times (us) go to $work/case.N.
ncases=0
declare -a case_label case_prep case_cmd
# add_case LABEL CMD...: CMD is eval'd and timed.
add_case() { add_case_prep "$1" "" "${@:2}"; }
# add_case_prep LABEL PREP CMD...: PREP is eval'd untimed before each timed run (its failure is
# ignored: e.g. removing an image that is not there).
add_case_prep() {
	case_label[$ncases]=$1 case_prep[$ncases]=$2
	shift 2
	case_cmd[$ncases]="$*"
	ncases=$((ncases + 1))
}

run_cases() {
	for ((i = 0; i < RUNS; i++)); do
		for ((c = 0; c < ncases; c++)); do
			local t0 t1
			[ -z "${case_prep[$c]}" ] || eval "${case_prep[$c]}" >/dev/null 2>&1 || true
			t0=$(now_ns)
			# A failed run is counted and shown, not timed (and does not stop the bench).
			if eval "${case_cmd[$c]}" >/dev/null 2>"$work/err.last"; then
				t1=$(now_ns)
				echo $(((t1 - t0) / 1000)) >>"$work/case.$c"
			else
				echo "bench: '${case_label[$c]}' failed (run $i):" >&2
				sed 's/^/    /' "$work/err.last" | tee -a "$work/failures" >&2
				echo "${case_label[$c]}" >>"$work/failed.$c"
			fi
		done
	done
	for ((c = 0; c < ncases; c++)); do
		local fails=0
		[ -f "$work/failed.$c" ] && fails=$(wc -l <"$work/failed.$c")
		touch "$work/case.$c"
		sort -n "$work/case.$c" | awk -v l="${case_label[$c]}" -v f="$fails" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s|%.1f|%.1f|%d|%d\n", l, a[1]/1000, m/1000, NR, f}' >>"$work/results"
		rm -f "$work/case.$c" "$work/failed.$c"
	done
	ncases=0
}

# The results so far as a markdown table, then what the failed runs said (if any).
print_results() {
	echo "| case | min (ms) | median (ms) | runs timed | runs failed |"
	echo "|---|---|---|---|---|"
	awk -F'|' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$work/results"
	if [ -s "$work/failures" ]; then
		echo
		echo "Failed runs said:"
		echo
		echo '```'
		cat "$work/failures"
		echo '```'
	fi
}
