#!/usr/bin/env python3
"""List the tests ctest skipped (from its JUnit reports), with each one's
reason, and fail (exit 1) on a skip tests/skips-allowed does not name when
CI=true.  Usage: check-skips.py ALLOWED REPORT.xml..."""
import os
import sys
import xml.etree.ElementTree as ET


def reason(case):
    out = case.findtext("system-out") or ""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    for l in lines:
        if "SKIP:" in l:
            return l.strip("* ").replace("SKIP: ", "", 1)
    return lines[-1] if lines else "(no reason given)"


def main():
    allowed = set()
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                allowed.add(line)
    skipped = []
    for report in sys.argv[2:]:
        suite = os.path.basename(os.path.dirname(os.path.abspath(report)))
        for case in ET.parse(report).getroot().iter("testcase"):
            if case.get("status") == "notrun" or case.find("skipped") is not None:
                skipped.append((suite, case.get("name"), reason(case)))
    ci = os.environ.get("CI") == "true"
    bad = [s for s in skipped if s[1] not in allowed]
    print("=== skipped tests: %d" % len(skipped))
    for suite, name, why in skipped:
        mark = "allowed" if name in allowed else ("FAILS CI" if ci else "not allowed in CI")
        print("  %s %s: %s [%s]" % (suite, name, why, mark))
    if ci and bad:
        print("check-skips: %d unexpected skip(s) in CI" % len(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
