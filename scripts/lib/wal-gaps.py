#!/usr/bin/env python3
"""Reads the paths of an archive's WAL files on stdin (barman-cloud's `wals/` directory, one
path per line) and fails when a segment is missing between the first and the last archived.

Segments only (`<24 hex>` or `<24 hex>.gz`), not the `.backup` and `.history` files; 16 MiB
segments, 256 to a 4 GiB log file. Used by scripts/test-recovery and scripts/test-cluster.
"""
import os
import sys

names = sorted({
    base.split(".")[0]
    for base in (os.path.basename(p) for p in sys.stdin.read().split())
    if len(base.split(".")[0]) == 24 and base.split(".")[1:] in ([], ["gz"])
})
if not names:
    sys.exit("no WAL segment archived")
numbers = [int(n[8:16], 16) * 256 + int(n[16:24], 16) for n in names]
gaps = [(a, b) for a, b in zip(numbers, numbers[1:]) if b != a + 1]
print(f"{len(names)} segments archived, {names[0]} .. {names[-1]}, gaps: {gaps}")
sys.exit(1 if gaps else 0)
