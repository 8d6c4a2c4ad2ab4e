#!/usr/bin/env python3
"""Compare emovec's captures (emovec capture --reduce rows --logits all) with HF transformers on the same
weights: the residual after block L at every position, the logits, and the effect of steering -- a vector
added after block L only on the steered option's tokens (HF: a forward hook on model.layers[L]) -- on the
whole last-position logits and on the "A" - "B" logit difference.

Layer L is the output of model.layers[L] (read with a forward hook). That is HF's hidden_states[L+1] for every
layer but the last, where transformers puts the output *after* the final RMSNorm in hidden_states; the script
checks both.

HF runs twice: float32 (TF32 off), the reference; and float16, whose own distance from float32 is the
error F16 arithmetic explains, printed next to emovec's.

usage: compare.py HF_DIR PLAIN_CAPTURE_DIR STEERED_CAPTURE_DIR VECTOR.npy [A_ID B_ID]
(A_ID B_ID: token ids of "A" and "B"; Llama 3: 32 33)"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def load(d):
    meta = json.loads((Path(d) / "capture.json").read_text())
    res = {l: np.load(Path(d) / f"residual-L{l}.npy").astype(np.float64) for l in meta["layers"]}
    return meta, res, np.load(Path(d) / "logits.npy").astype(np.float64)


def run_hf(model, ids, steer=None):
    """Per layer output (positions x width), the final hidden_states entry, and the logits, as float64."""
    outs, handles = {}, []
    for l, layer in enumerate(model.model.layers):
        def hook(module, inputs, output, l=l):
            h = output[0] if isinstance(output, tuple) else output
            if steer is not None and steer[0] == l:
                _, f, t, add = steer
                h = h.clone()
                h[:, f:t] += add.to(h.dtype)
                output = (h,) + tuple(output[1:]) if isinstance(output, tuple) else h
            outs[l] = h[0].double().cpu().numpy()
            return output
        handles.append(layer.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(ids, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    return outs, out.hidden_states[-1][0].double().cpu().numpy(), out.logits[0].double().cpu().numpy()


def main(hf_dir, plain_dir, steered_dir, vector_path, a_id=32, b_id=33):
    models = {dt: AutoModelForCausalLM.from_pretrained(hf_dir, dtype=getattr(torch, dt)).cuda().eval() for dt in ("float32", "float16")}
    meta, res, logits = load(plain_dir)
    smeta, _, slogits = load(steered_dir)
    v = torch.tensor(np.load(vector_path).reshape(-1), dtype=torch.float32, device="cuda")
    layer, alpha = smeta["steer_layer"], smeta["alpha"]
    errs = {who: {"residual": {l: [] for l in meta["layers"]}, "logits": [], "steer_effect": [], "ab": []} for who in ("emovec", "hf_float16")}
    last_norm_check = []
    for p, sp in zip(meta["prompts"], smeta["prompts"]):
        ids = torch.tensor([p["token_ids"]], device="cuda")
        r0, n = p["first_row"], p["rows"]
        f, t = sp["steer_span"]
        runs = {}
        for dt, model in models.items():
            plain = run_hf(model, ids)
            steered = run_hf(model, ids, (layer, f, t, alpha * v))
            runs[dt] = (plain, steered)
        (ref_layers, ref_final, ref_logits), (_, _, ref_slogits) = runs["float32"]
        ours = ({l: res[l][r0:r0 + n] for l in meta["layers"]}, logits[r0:r0 + n], slogits[r0:r0 + n])
        (h16_layers, _, h16_logits), (_, _, h16_slogits) = runs["float16"]
        cand = {"emovec": ours, "hf_float16": (h16_layers, h16_logits, h16_slogits)}
        last = n - 1
        ref_effect = ref_slogits[last] - ref_logits[last]
        ref_ab = ref_effect[a_id] - ref_effect[b_id]
        for who, (lay, lg, slg) in cand.items():
            e = errs[who]
            for l in meta["layers"]:
                e["residual"][l].append(rel(lay[l], ref_layers[l]))
            e["logits"].append(rel(lg, ref_logits))
            effect = slg[last] - lg[last]
            e["steer_effect"].append(rel(effect, ref_effect))
            e["ab"].append((float(effect[a_id] - effect[b_id]), float(ref_ab)))
        # the last layer's output is HF hidden_states[-1] only after the final norm: show that it is the hook's value
        last_norm_check.append(rel(ref_final, ref_layers[max(meta["layers"])]))
    report = {"prompts": len(meta["prompts"]), "steer_layer": layer, "alpha": alpha,
              "hf_hidden_states_last_vs_last_layer_output": float(np.mean(last_norm_check))}
    for who, e in errs.items():
        ab = np.array(e["ab"])
        report[who] = {
            "residual_max_rel_err": {f"L{l}": max(v) for l, v in e["residual"].items()},
            "logits_max_rel_err": max(e["logits"]),
            "steering_effect_on_logits_max_rel_err": max(e["steer_effect"]),
            "ab_delta": ab[:, 0].tolist(),
            "ab_delta_rel_err": rel(ab[:, 0], ab[:, 1]),
        }
    report["ab_delta_hf_float32"] = np.array(errs["emovec"]["ab"])[:, 1].tolist()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) not in (5, 7):
        sys.exit(__doc__)
    main(*sys.argv[1:5], *(int(x) for x in sys.argv[5:7]))
