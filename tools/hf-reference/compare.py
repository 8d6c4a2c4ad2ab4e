#!/usr/bin/env python3
"""Compare emovec's captures (emovec capture --reduce rows --logits all) with HF transformers on the same
weights: the residual after block L (HF hidden_states[L+1]) at every position, the logits, and the change in
the "A" - "B" logit difference when a vector is added after block L only on the steered option's tokens
(HF: a forward hook on model.layers[L] adding alpha * v at those positions).

usage: compare.py HF_DIR PLAIN_CAPTURE_DIR STEERED_CAPTURE_DIR VECTOR.npy [A_ID B_ID]
Prints a JSON summary; HF runs in float32 (TF32 off) on the GPU, the reference for emovec's F16 arithmetic."""
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
    res = {l: np.load(Path(d) / f"residual-L{l}.npy") for l in meta["layers"]}
    return meta, res, np.load(Path(d) / "logits.npy")


def main(hf_dir, plain_dir, steered_dir, vector_path, a_id=32, b_id=33):
    model = AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).cuda().eval()
    meta, res, logits = load(plain_dir)
    smeta, sres, slogits = load(steered_dir)
    v = torch.tensor(np.load(vector_path).reshape(-1), dtype=torch.float32, device="cuda")
    layer, alpha = smeta["steer_layer"], smeta["alpha"]
    report = {"layers": {}, "prompts": len(meta["prompts"]), "steer_layer": layer, "alpha": alpha}
    per_layer = {l: [] for l in meta["layers"]}
    logit_err, steered_logit_err, deltas = [], [], []
    for p, sp in zip(meta["prompts"], smeta["prompts"]):
        ids = torch.tensor([p["token_ids"]], device="cuda")
        r0, n = p["first_row"], p["rows"]
        with torch.no_grad():
            out = model(ids, output_hidden_states=True)
        for l in meta["layers"]:
            hf = out.hidden_states[l + 1][0].double().cpu().numpy()
            per_layer[l].append(rel(res[l][r0:r0 + n].astype(np.float64), hf))
        hf_logits = out.logits[0].double().cpu().numpy()
        logit_err.append(rel(logits[r0:r0 + n].astype(np.float64), hf_logits))
        # steered: add alpha * v after block `layer`, only at the steered span's positions
        f, t = sp["steer_span"]

        def hook(module, inputs, output):
            h = output[0] if isinstance(output, tuple) else output
            h = h.clone()
            h[:, f:t] += alpha * v
            return (h,) + tuple(output[1:]) if isinstance(output, tuple) else h

        handle = model.model.layers[layer].register_forward_hook(hook)
        with torch.no_grad():
            sout = model(ids)
        handle.remove()
        hf_steered = sout.logits[0].double().cpu().numpy()
        steered_logit_err.append(rel(slogits[r0:r0 + n].astype(np.float64), hf_steered))
        last = n - 1
        d_hf = (hf_steered[last, a_id] - hf_steered[last, b_id]) - (hf_logits[last, a_id] - hf_logits[last, b_id])
        d_ours = (slogits[r0 + last, a_id] - slogits[r0 + last, b_id]) - (logits[r0 + last, a_id] - logits[r0 + last, b_id])
        deltas.append((float(d_ours), float(d_hf)))
    for l, errs in per_layer.items():
        report["layers"][f"L{l} (HF hidden_states[{l + 1}])"] = {"max_rel_err": max(errs), "mean_rel_err": float(np.mean(errs))}
    report["logits_max_rel_err"] = max(logit_err)
    report["steered_logits_max_rel_err"] = max(steered_logit_err)
    ours, hf = np.array(deltas).T
    report["ab_delta_emovec"] = ours.tolist()
    report["ab_delta_hf"] = hf.tolist()
    report["ab_delta_rel_err"] = rel(ours, hf)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) not in (5, 7):
        sys.exit(__doc__)
    main(*sys.argv[1:5], *(int(x) for x in sys.argv[5:7]))
