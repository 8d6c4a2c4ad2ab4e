#!/usr/bin/env python3
"""Summarises a cuda_trace.cpp recording per phase.

usage: analyze.py TRACE.csv [MARKS.txt] [--top N] [--steps GAP_US]
MARKS: lines "<unix seconds> <text>" (a command's output stamped as it was printed, see stamp.py); phase i runs
from mark i-1 to mark i and is named by mark i's text, the line that ended it. Without marks: one phase.
Per phase: wall time, GPU busy time (union of kernels and copies), idle time in gaps > 20 us, copies, host waits
(synchronisations) and the kernels that take the time. --steps: the phase cut into stretches of GPU work separated by idle gaps longer
than GAP_US (a decode step, one llama_decode of a prompt batch), and the typical stretch: its span, its busy time,
its kernels and the idle gap after it (medians over the stretches with the most common kernel count).
With CUDA runtime calls recorded (CUDA_TRACE_API=1): per phase, the host thread that calls CUDA most, the time it
spends inside CUDA calls (by function) and outside them (its own work: llama.cpp's and emovec's host code).
"""
import sys
from collections import defaultdict

import numpy as np


def load(path):
    names, kern, copies, syncs, api, api_names, offset = {}, [], [], [], [], {}, 0
    for line in open(path, errors="replace"):
        f = line.rstrip("\n").split(",", 6)
        k = f[0]
        if k == "K":
            kern.append((int(f[1]), int(f[2]), int(f[3]), int(f[4])))
        elif k in ("C", "M"):
            copies.append((int(f[1]), int(f[2]), int(f[3]), int(f[4]) if k == "C" else -1, int(f[5])))
        elif k == "S":
            syncs.append((int(f[1]), int(f[2]), int(f[3]), int(f[4])))
        elif k == "N":
            names[int(f[1])] = ",".join(f[2:])
        elif k == "A":
            api.append((int(f[1]), int(f[2]), int(f[3]), int(f[4])))
        elif k == "R":
            api_names[int(f[1])] = f[2]
        elif k == "T":
            offset = int(f[2]) - int(f[1])  # wall ns - CUPTI ns
    arrays = [np.array(x, dtype=np.int64).reshape(-1, w) for x, w in ((kern, 4), (copies, 5), (syncs, 4), (api, 4))]
    return names, *arrays, api_names, offset


def host_calls(all_api, api_names, a, b, top):
    """The busiest CUDA-calling host thread in [a, b]: time inside CUDA runtime calls, by function, and outside."""
    api = all_api[(all_api[:, 0] >= a) & (all_api[:, 1] <= b)]
    if len(api) == 0:
        return
    threads, counts = np.unique(api[:, 3], return_counts=True)
    mine = api[api[:, 3] == threads[np.argmax(counts)]]
    inside, _ = union(mine[:, :2])
    wall = b - a
    print(f"   host thread {int(threads[np.argmax(counts)])}: {len(mine)} CUDA calls, inside them {inside / 1e6:.1f} ms, "
          f"outside {(wall - inside) / 1e6:.1f} ms of {wall / 1e6:.1f} ms")
    by = defaultdict(lambda: [0, 0])
    for st, en, cbid, _ in mine:
        e = by[api_names.get(int(cbid), str(cbid))]; e[0] += 1; e[1] += int(en - st)
    for name, (n, d) in sorted(by.items(), key=lambda x: -x[1][1])[:top]:
        print(f"     {d / 1e6:9.2f} ms {n:8d} x {d / n / 1e3:8.1f} us  {name}")


def union(intervals):
    """Total covered time and the idle gaps between (sorted) intervals."""
    if len(intervals) == 0:
        return 0, np.zeros(0, dtype=np.int64)
    iv = intervals[np.argsort(intervals[:, 0])]
    ends = np.maximum.accumulate(iv[:, 1])
    gaps = iv[1:, 0] - ends[:-1]
    busy = (ends[-1] - iv[0, 0]) - gaps[gaps > 0].sum()
    return busy, gaps[gaps > 0]


def short(name, n=70):
    name = name.replace("(anonymous namespace)::", "")
    return name if len(name) <= n else name[: n - 3] + "..."


def steps(k, step_gap, names, top):
    k = k[np.argsort(k[:, 0])]
    iv = k[:, :2]
    ends = np.maximum.accumulate(iv[:, 1])
    cut = np.nonzero(iv[1:, 0] - ends[:-1] > step_gap)[0] + 1
    bounds = np.concatenate([[0], cut, [len(iv)]])
    rows = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        busy, _ = union(iv[a:b])
        gap_after = iv[b, 0] - ends[b - 1] if b < len(iv) else -1
        rows.append((b - a, ends[b - 1] - iv[a, 0], busy, gap_after, a, b))
    rows = np.array(rows, dtype=np.int64)
    counts, freq = np.unique(rows[:, 0], return_counts=True)
    mode = counts[np.argmax(freq)]
    sel = rows[np.abs(rows[:, 0] - mode) <= max(2, mode // 100)]
    after = sel[sel[:, 3] >= 0, 3]
    print(f"   stretches (idle > {step_gap / 1000:.0f} us between): {len(rows)}; the {len(sel)} of ~{mode} kernels: span "
          f"{np.median(sel[:, 1]) / 1e6:.3f} ms, busy {np.median(sel[:, 2]) / 1e6:.3f} ms, idle after "
          f"{(np.median(after) / 1e6 if len(after) else float('nan')):.3f} ms (medians)")
    # what one typical stretch (a decode step) spends its GPU time on: kernel time per stretch, by kernel
    dur = defaultdict(int)
    for a, b in sel[:, 4:6]:
        for nid, d in zip(k[a:b, 3], k[a:b, 1] - k[a:b, 0]):
            dur[int(nid)] += int(d)
    for nid, d in sorted(dur.items(), key=lambda x: -x[1])[:top]:
        print(f"     per stretch {d / len(sel) / 1e3:9.1f} us  {short(names.get(nid, '?'))}")


COPY_KIND = {1: "H2D", 2: "D2H", 8: "D2D", 10: "P2P", -1: "memset"}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    opt = {}
    for o in ("--top", "--steps"):
        if o in sys.argv:
            opt[o] = sys.argv[sys.argv.index(o) + 1]
            args.remove(opt[o])
    top = int(opt.get("--top", 12))
    step_gap = float(opt["--steps"]) * 1000 if "--steps" in opt else None
    names, kern, copies, syncs, api, api_names, offset = load(args[0])
    marks = []
    if len(args) > 1:
        for line in open(args[1], errors="replace"):
            t, _, text = line.rstrip("\n").partition(" ")
            try:
                marks.append((int(float(t) * 1e9) - offset, text.strip()))
            except ValueError:
                pass
    t_all = [a[:, :2] for a in (kern, copies) if len(a)]
    first = min(a[:, 0].min() for a in t_all)
    last = max(a[:, 1].max() for a in t_all)
    bounds = [(first, marks[0][0] if marks else last, "(before the first mark)")] if marks else [(first, last, "whole run")]
    for (a, _), (b, text) in zip(marks, marks[1:]):
        bounds.append((a, b, text))
    print(f"{len(kern)} kernels, {len(copies)} copies/memsets, {len(syncs)} synchronisations, {len(names)} kernel names")
    for a, b, text in bounds:
        sel = (kern[:, 0] >= a) & (kern[:, 1] <= b)
        k = kern[sel]
        c = copies[(copies[:, 0] >= a) & (copies[:, 1] <= b)]
        s = syncs[(syncs[:, 0] >= a) & (syncs[:, 1] <= b)]
        if len(k) == 0 and len(c) == 0:
            continue
        wall = (b - a) / 1e6
        busy, gaps = union(np.concatenate([k[:, :2], c[:, :2]]) if len(c) else k[:, :2])
        kbusy, _ = union(k[:, :2])
        print(f"\n== {text}")
        print(f"   wall {wall:.1f} ms; GPU busy {busy / 1e6:.1f} ms ({busy / 1e6 / wall:.1%}), kernels {kbusy / 1e6:.1f} ms, "
              f"{len(k)} kernels; idle gaps > 20 us: {int((gaps > 20000).sum())} of {gaps[gaps > 20000].sum() / 1e6:.1f} ms, "
              f"gaps <= 20 us: {int((gaps <= 20000).sum())} of {gaps[gaps <= 20000].sum() / 1e6:.1f} ms")
        per_stream = defaultdict(int)
        for st, d in zip(k[:, 2], k[:, 1] - k[:, 0]):
            per_stream[int(st)] += int(d)
        print("   kernel time per stream: " + ", ".join(f"{st}: {d / 1e6:.1f} ms" for st, d in sorted(per_stream.items(), key=lambda x: -x[1])[:6]))
        if len(c):
            by = defaultdict(lambda: [0, 0, 0])
            for st, en, _, kind, nbytes in c:
                e = by[COPY_KIND.get(int(kind), str(kind))]
                e[0] += 1; e[1] += int(nbytes); e[2] += int(en - st)
            print("   copies: " + ", ".join(f"{kd} {n} x, {nb / 1e6:.1f} MB, {t / 1e6:.2f} ms" for kd, (n, nb, t) in by.items()))
        if len(s):
            print(f"   synchronisations: {len(s)}, {(s[:, 1] - s[:, 0]).sum() / 1e6:.1f} ms waited")
        if step_gap is not None and len(k) > 1:
            steps(k, step_gap, names, top)
        host_calls(api, api_names, a, b, 8)
        dur = defaultdict(lambda: [0, 0])
        for nid, d in zip(k[:, 3], k[:, 1] - k[:, 0]):
            e = dur[int(nid)]; e[0] += 1; e[1] += int(d)
        total = sum(v[1] for v in dur.values())
        for nid, (n, d) in sorted(dur.items(), key=lambda x: -x[1][1])[:top]:
            print(f"   {d / 1e6:9.2f} ms {d / max(total, 1):6.1%} {n:7d} x {d / n / 1e3:8.1f} us  {short(names.get(nid, '?'))}")


if __name__ == "__main__":
    main()
