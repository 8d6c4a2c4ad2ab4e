#!/usr/bin/env python3
"""The HF transformers peers of `emovec bench`, on the same weights (a folder that tools/hf-reference/export_hf.py
wrote from the GGUF): generate() with sampling at each prompt + new-token shape and batch size asked for (the best
batch of a shape is its peer), and a forward pass with output_hidden_states=True (what the study's extraction
does), in tokens per second. Prints one JSON line per measurement, then the whole result.
--cache static: generate() with a static KV cache, which transformers compiles (torch.compile, CUDA graphs): HF at
its fastest, where the default dynamic cache (as the study ran it) leaves generate() bound by the host.
usage: hf_peers.py HF_DIR [--dtype float16|bfloat16] [--generate 64+128@450 221+300@256,450,512 | none]
                          [--cache dynamic|static] [--forward 16x512,8x1024 | none]"""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, StoppingCriteria, StoppingCriteriaList


class StopAfter(StoppingCriteria):
    """Ends a warm-up generate() after `length` tokens in all, keeping the timed call's shapes (a static cache is
    sized by max_new_tokens, and its compiled graphs by the cache)."""

    def __init__(self, length):
        self.length = length

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), input_ids.shape[1] >= self.length, dtype=torch.bool, device=input_ids.device)


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t0


def generate_shapes(specs):
    """'221+300@256,450' -> (221, 300, [256, 450]); 'none' -> nothing."""
    for spec in specs:
        if spec == "none":
            continue
        lengths, batches = spec.split("@")
        prompt, new = (int(x) for x in lengths.split("+"))
        yield prompt, new, [int(b) for b in batches.split(",")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("hf_dir")
    ap.add_argument("--dtype", default="float16")
    ap.add_argument("--generate", nargs="+", default=["64+128@256,450"],
                    help="PROMPT+NEW@B1,B2,...: generate() at these lengths and batch sizes ('none': no generate)")
    ap.add_argument("--cache", default="dynamic", choices=["dynamic", "static"],
                    help="generate()'s KV cache: dynamic (its default) or static (compiled by transformers)")
    ap.add_argument("--forward", default="16x512,8x1024", help="batch x tokens shapes for the hidden-states forward pass ('none': no forward)")
    a = ap.parse_args()
    dtype = getattr(torch, a.dtype)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(a.hf_dir, dtype=dtype, device_map="cuda")
    model.eval()
    load = time.perf_counter() - t0
    vocab = model.config.vocab_size
    g = torch.Generator(device="cpu").manual_seed(0)
    result = {"dtype": a.dtype, "cache": a.cache, "load_seconds": load, "generate": [], "forward_hidden_states": [], "best_generate": {}}

    for prompt, new, batches in generate_shapes(a.generate):
        for b in batches:
            ids = torch.randint(1000, vocab - 1000, (b, prompt), generator=g).cuda()
            kw = dict(attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8, top_k=40, top_p=0.95,
                      max_new_tokens=new, min_new_tokens=new, pad_token_id=0)
            r = {"prompt": prompt, "new": new, "batch": b, "cache": a.cache}
            try:
                with torch.inference_mode():
                    if a.cache == "static":  # the warm-up compiles for the timed call's batch and cache
                        kw["cache_implementation"] = "static"
                        _, secs = timed(lambda: model.generate(ids, **kw, stopping_criteria=StoppingCriteriaList([StopAfter(prompt + 16)])))
                        r["warm_up_seconds"] = secs
                    else:
                        model.generate(ids[:, :8], **{**kw, "attention_mask": torch.ones_like(ids[:, :8]), "max_new_tokens": 4, "min_new_tokens": 4})
                    out, secs = timed(lambda: model.generate(ids, **kw))
                made = (out.shape[1] - prompt) * b
                r.update(new_tokens=made, seconds=secs, tokens_per_second=made / secs, peak_gib=torch.cuda.max_memory_allocated() / 2**30)
                key = f"{prompt}+{new}"
                result["best_generate"][key] = max(result["best_generate"].get(key, 0), r["tokens_per_second"])
            except torch.OutOfMemoryError:
                r["error"] = "out of memory"
            except Exception as e:  # a static cache that does not compile here: say so, go on
                r["error"] = f"{type(e).__name__}: {e}"[:300]
            del ids
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            result["generate"].append(r)
            print(json.dumps(r), flush=True)

    for shape in [] if a.forward == "none" else a.forward.split(","):
        b, n = (int(x) for x in shape.split("x"))
        ids = torch.randint(1000, vocab - 1000, (b, n), generator=g).cuda()
        with torch.inference_mode():
            model(ids, output_hidden_states=True)  # warm-up
            reps = 5
            _, secs = timed(lambda: [model(ids, output_hidden_states=True).hidden_states[-1].float().mean().item() for _ in range(reps)])
        r = {"batch": b, "tokens": n, "seconds": secs, "tokens_per_second": reps * b * n / secs,
             "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
        result["forward_hidden_states"].append(r)
        print(json.dumps(r), flush=True)

    result["best_forward_tokens_per_second"] = max((r["tokens_per_second"] for r in result["forward_hidden_states"]), default=None)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
