#!/usr/bin/env python3
"""Sums Criterion's per-binary synthesis lines from meson test logs.

Usage: summarize.py testlog.json [more.json ...]
Prints one line per log and a final 'N passed, N failed, N skipped' line.
A test binary that ended without a synthesis line (crash, timeout) counts as
one failure; one that meson reports SKIP counts as one skip.
"""
import json
import re
import sys

SYN = re.compile(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)")
SKIPPED = re.compile(r"Skipped: (\d+)")


def summarize(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            result = t.get("result", "")
            m = SYN.search(out)
            if result == "SKIP":
                skipped += 1
                continue
            if m:
                tested, ok, fail, crash = map(int, m.groups())
                sk = SKIPPED.search(out)
                passed += ok
                failed += fail + crash
                skipped += int(sk.group(1)) if sk else 0
                if result not in ("OK", "EXPECTEDFAIL") and fail + crash == 0:
                    failed += 1  # the binary failed after its tests (exit code, timeout)
            elif result == "OK":
                passed += 1
            else:
                failed += 1
    return passed, failed, skipped


def main():
    tp = tf = ts = 0
    for path in sys.argv[1:]:
        p, f, s = summarize(path)
        print(f"{path}: {p} passed, {f} failed, {s} skipped")
        tp, tf, ts = tp + p, tf + f, ts + s
    print(f"{tp} passed, {tf} failed, {ts} skipped")
    return 1 if tf else 0


if __name__ == "__main__":
    sys.exit(main())
