#!/usr/bin/env python3
"""Copies stdin to stdout and to MARKS, each line in MARKS prefixed with the unix time it arrived (for analyze.py)."""
import sys
import time

with open(sys.argv[1], "a") as marks:
    marks.write(f"{time.time():.6f} (start)\n")
    for line in sys.stdin:
        marks.write(f"{time.time():.6f} {line}")
        marks.flush()
        sys.stdout.write(line)
        sys.stdout.flush()
