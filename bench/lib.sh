# shellcheck shell=bash
# bench/lib.sh: timing helpers shared by the bench scripts.  Numbers are
# printed with BENCH_DIGITS decimals (default 3).

# elapsed T0 T1: seconds between two $EPOCHREALTIME readings.
elapsed() {
    awk -v a="$1" -v b="$2" -v d="${BENCH_DIGITS:-3}" 'BEGIN { printf "%.*f", d, b - a }'
}

# median X...: the median of the numbers.
median() {
    printf '%s\n' "$@" | sort -g |
        awk -v d="${BENCH_DIGITS:-3}" '{ v[NR] = $1 }
            END { printf "%.*f", d, NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
