#!/usr/bin/env bash
# Scripts run under `set -o pipefail`, where `producer | grep -q PATTERN`
# fails whenever grep exits at its first match before the producer has
# written everything (the producer dies of SIGPIPE): a test that passes or
# fails by luck.  No such pipe may come back; match on captured output,
# or let grep read the file itself.
set -euo pipefail
cd "${SRCDIR:?run through ctest}"
# The pipe may end a line: bash reads on after it.
found=$(perl -0777 -ne '
    while (/(?<![|])\|(?![|])[ \t]*(?:\\?\n[ \t]*)*grep\b[^\n|;&]*?(?:\s-[a-zA-Z]*q[a-zA-Z]*|\s--quiet)\b/g) {
        my $line = 1 + (substr($_, 0, $-[0]) =~ tr/\n//);
        print "$ARGV:$line\n";
    }' $(git ls-files '*.sh' ':!tests/lint/' 2>/dev/null || find . -name '*.sh' -not -path './build*' -not -path './tests/lint/*') .ci/run)
if [ -n "$found" ]; then
    echo "FAIL: producer | grep -q (races under pipefail):" >&2
    printf '%s\n' "$found" >&2
    exit 1
fi
