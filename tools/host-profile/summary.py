#!/usr/bin/env python3
"""Summarises an async-profiler recording in collapsed form (one "frame;frame;...;leaf COUNT" line per stack).

usage: summary.py PROFILE.collapsed [--only SUBSTRING] [--top N]
--only keeps the stacks with a frame containing SUBSTRING (e.g. BatchGenerator: the story generator's own thread).
Prints the samples per thread (the first frame with async-profiler's `threads` option), then, for the busiest
thread, the frames that take the time: self (the leaf) and inclusive (anywhere on the stack, once per stack).
"""
import sys
from collections import Counter


def main():
    args = sys.argv[1:]
    only = args[args.index("--only") + 1] if "--only" in args else None
    top = int(args[args.index("--top") + 1]) if "--top" in args else 30
    stacks = []
    for line in open(args[0], errors="replace"):
        frames, _, n = line.rstrip("\n").rpartition(" ")
        if not frames or not n.isdigit():
            continue
        f = frames.split(";")
        if only is None or any(only in x for x in f):
            stacks.append((f, int(n)))
    threads = Counter()
    for f, n in stacks:
        threads[f[0]] += n
    total = sum(threads.values())
    print(f"{total} samples{' in stacks through ' + only if only else ''}; by thread:")
    for t, n in threads.most_common(8):
        print(f"  {n:8d} {n / max(total, 1):6.1%}  {t}")
    if not threads:
        return
    busiest = threads.most_common(1)[0][0]
    mine = [(f, n) for f, n in stacks if f[0] == busiest]
    own = sum(n for _, n in mine)
    self_time, incl = Counter(), Counter()
    for f, n in mine:
        self_time[f[-1]] += n
        for x in set(f[1:]):
            incl[x] += n
    print(f"\n{busiest}: {own} samples; self time (leaf frames):")
    for x, n in self_time.most_common(top):
        print(f"  {n / own:6.1%}  {x[:150]}")
    print(f"\n{busiest}: inclusive time (frames anywhere on the stack):")
    for x, n in incl.most_common(top * 2):
        print(f"  {n / own:6.1%}  {x[:150]}")


if __name__ == "__main__":
    main()
