#!/usr/bin/env python3
"""Ratios of emovec bench to its peers measured in the same device run (tools/device-run.sh JOBS=bench):
llama-batched-bench (decode S_TG, prefill S_PP) and HF transformers (generate, forward with hidden states).
usage: ratios.py RESULTS_DIR TYPE (the weight type: bench-TYPE.json, bb-*-TYPE.jsonl; HF's forward in bfloat16,
hf-peers-bf16.json, is the peer of BF16 weights where it was measured, hf-peers.json's float16 otherwise)"""
import json
import sys

d, wt = sys.argv[1], sys.argv[2]
bench = json.load(open(f"{d}/bench-{wt}.json"))


def row(stage, start, without=None):
    return next((r for r in bench["rows"] if r["stage"] == stage and r["condition"].startswith(start)
                 and not (without and without in r["condition"])), None)  # None: not timed (bench --no-comparisons)



def last_json(path):
    try:
        return [json.loads(l) for l in open(path) if l.startswith("{")][-1]
    except (OSError, IndexError):
        return None


bb_dec, bb_pre, hf = last_json(f"{d}/bb-decode-{wt}.jsonl"), last_json(f"{d}/bb-prefill-{wt}.jsonl"), last_json(f"{d}/hf-peers.json")
hf_forward = (wt == "bf16" and last_json(f"{d}/hf-peers-bf16.json")) or hf
# HF generate's best batch at each prompt + new-token shape (files before 2026-11-25's fourth session: 64 + 128 only)
hf_generate = (hf or {}).get("best_generate") or {"64+128": (hf or {}).get("best_generate_tokens_per_second")}
bb_story = last_json(f"{d}/bb-stories-{wt}.jsonl")  # llama-batched-bench at the stories' prompt length and token cap
story, story_plain = row("stories", "prompt KV shared"), row("stories", "each prompt prefilled")
extract, prefill = row("extraction", "capture"), row("extraction", "plain prefill")
steered, unsteered = row("preferences", "steered pairs, span steering"), row("preferences", "steered pairs, unsteered")
ceil = bench["ceilings"]
lines = [("model", bench["model_description"], ""), ("load", f"{bench['load_seconds']:.1f} s", "")]


def add(name, ours, peer, peer_name, target):
    lines.append((name, f"{ours:,.0f} vs {peer_name} {peer:,.0f}" if peer else f"{ours:,.0f} ({peer_name}: not measured)",
                  f"{ours / peer:.2f}x" + (f" (target {target})" if target else "") if peer else ""))


add("stories tok/s (KV shared, sampling, real stops)", story["tokensPerSecond"], bb_dec and bb_dec["speed_tg"], "llama-batched-bench S_TG", ">= 1.0x")
if story_plain:
    add("stories tok/s, each prompt prefilled", story_plain["tokensPerSecond"], bb_dec and bb_dec["speed_tg"], "llama-batched-bench S_TG", "")
if "stories_decode_only_tokens_per_second_shared" in bench:
    add("stories, decode-only steps tok/s", bench["stories_decode_only_tokens_per_second_shared"], bb_dec and bb_dec["speed_tg"], "llama-batched-bench S_TG", "")
    if bb_story:
        add(f"  same, peer at the stories' lengths ({bb_story['pp']} + {bb_story['tg']})", bench["stories_decode_only_tokens_per_second_shared"],
            bb_story["speed_tg"], "llama-batched-bench S_TG", ">= 1.0x")
if bb_story:
    add(f"stories tok/s, peer at the stories' lengths ({bb_story['pp']} + {bb_story['tg']})", story["tokensPerSecond"], bb_story["speed_tg"],
        "llama-batched-bench S_TG", "")
if "stories_decode_only_tokens_per_second_shared_one_context" in bench:  # the pipeline steps several contexts: the same on one
    one = row("stories", "prompt KV shared", without="contexts in turn")
    if one: add(f"stories tok/s on {bench['story_lanes']} contexts vs one", story["tokensPerSecond"], one["tokensPerSecond"], "one context", "")
stories_shape = f"{bench['story_prompt_tokens']}+{bench['story_max_tokens']}"
add(f"stories tok/s vs HF generate at their lengths ({stories_shape}, best batch)", story["tokensPerSecond"],
    hf_generate.get(stories_shape), "HF generate", ">= 3x")
hf_static = last_json(f"{d}/hf-peers-static.json")  # generate() with a static cache, compiled by transformers
if hf_static:  # a run cut off by its time limit leaves a measurement's line last, without best_generate
    add(f"  same, HF with a static cache, compiled ({stories_shape}, best batch)", story["tokensPerSecond"],
        hf_static.get("best_generate", {}).get(stories_shape), "HF generate", "")
add("stories tok/s vs HF generate at 64 + 128 (best batch)", story["tokensPerSecond"], hf_generate.get("64+128"), "HF generate", "")
streams = [r for r in bench["rows"] if r["stage"] == "stories" and r["condition"].startswith("prompt KV shared")
           and not r["condition"].endswith(" KV cache") and ("contexts in turn" in r["condition"]) == (bench.get("story_lanes", 1) > 1)]
grouped = next((r for r in streams if "KV streams of" in r["condition"]), None)
per_sequence = next((r for r in streams if r["condition"].endswith("a KV stream each")), None)
if grouped and per_sequence:  # emovec's llama.cpp patch (KV streams of several sequences) against llama.cpp's layout
    add(f"stories tok/s, {grouped['condition'].split(', KV streams of ')[1].split(',')[0]} sequences a KV stream vs one",
        grouped["tokensPerSecond"], per_sequence["tokensPerSecond"], "a KV stream per sequence", "")
other_cache = next((r for r in bench["rows"] if r["stage"] == "stories" and r["condition"].endswith(" KV cache")), None)
if other_cache:  # the shared-prompt stories with the other KV cache (f16 / q8_0): HF's cache is float16 either way
    cache = other_cache["condition"].rsplit(", ", 1)[1]
    add(f"stories tok/s, {cache}", other_cache["tokensPerSecond"], story["tokensPerSecond"], f"{bench.get('story_kv_cache', 'f16')} KV cache", "")
    add(f"  vs HF generate at their lengths ({stories_shape}, best batch)", other_cache["tokensPerSecond"], hf_generate.get(stories_shape), "HF generate", "")
    bb_q8 = last_json(f"{d}/bb-stories-q8_0-{wt}.jsonl")
    if bb_q8 and "q8_0" in cache:
        add("  vs llama-batched-bench at their lengths, q8_0 KV cache", other_cache["tokensPerSecond"], bb_q8["speed_tg"], "llama-batched-bench S_TG", "")
hf_forward_name = f"HF forward+hidden states ({hf_forward['dtype'] if hf_forward else '-'})"
add("extraction tok/s (capture every layer)", extract["tokensPerSecond"], hf_forward and hf_forward["best_forward_tokens_per_second"], hf_forward_name, ">= 1.0x")
for other in [r for r in bench["rows"] if r["stage"] == "extraction" and r["condition"].startswith("capture")][1:]:
    # the same texts in another batch layout (one KV stream for the batch, against the pipeline's one per text)
    add(f"  {other['condition'].split(', ', 1)[1]}", other["tokensPerSecond"], hf_forward and hf_forward["best_forward_tokens_per_second"], hf_forward_name, "")
    add("  pipeline's layout vs that", extract["tokensPerSecond"], other["tokensPerSecond"], "it", "")
add("plain prefill tok/s", prefill["tokensPerSecond"], bb_pre and bb_pre["speed_pp"], "llama-batched-bench S_PP", "")
fastest = max((r for r in bench["rows"] if r["stage"] == "extraction" and r["condition"].startswith("plain prefill")), key=lambda r: r["tokensPerSecond"])
if fastest is not prefill:
    add(f"plain prefill, fastest shape ({fastest['condition'].split(', ', 1)[1]})", fastest["tokensPerSecond"],
        hf_forward and hf_forward["best_forward_tokens_per_second"], hf_forward_name, "")
add("preference prompts/s, span steering", steered["itemsPerSecond"], unsteered["itemsPerSecond"], "unsteered", ">= 0.95x")
all_prompts = [r for r in bench["rows"] if r["stage"] == "preferences" and r["condition"].startswith("all prompts")]
for other in all_prompts[1:]:  # the same prompts in another batch layout than the checks'
    add(f"  the checks' layout vs {other['condition'].split(', ', 2)[2]}", all_prompts[0]["itemsPerSecond"], other["itemsPerSecond"], "it", "")
for r in (story, extract, steered):
    if r.get("ceilingTokensPerSecond"):
        lines.append((f"{r['stage']} vs ceiling", f"{r['tokensPerSecond']:,.0f} of {r['ceilingTokensPerSecond']:,.0f} tok/s", f"{r['tokensPerSecond'] / r['ceilingTokensPerSecond']:.1%}"))
lines.append(("ceiling basis", f"{ceil['flops_per_token'] / 1e9:.1f} GFLOP/token, {ceil['peak_tflops']:.0f} TFLOP/s, {ceil['peak_bandwidth_bytes_per_second'] / 1e12:.1f} TB/s", ""))
paper = bench.get("paper_scale") or {}
if "total_hours" in paper:
    lines.append(("paper scale at these rates", f"stories {paper['stories_seconds'] / 3600:.2f} h + extraction {paper['extraction_seconds'] / 3600:.2f} h"
                  f" + validate {paper['validate_seconds_per_layer'] / 60:.1f} min per layer", f"{paper['total_hours']:.2f} h (goal < 3 h)"))
lines.append(("peak device memory", f"{bench['peak_device_bytes'] / 2**30:.2f} GiB", ""))
w = max(len(a) for a, _, _ in lines)
for a, b, c in lines:
    print(f"{a:<{w}}  {b:<60} {c}")
