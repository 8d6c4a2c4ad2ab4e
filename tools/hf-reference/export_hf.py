#!/usr/bin/env python3
"""Export a Llama GGUF that emovec wrote (F32/F16/BF16 weights) to a Hugging Face folder: config.json and
model.safetensors, for comparing emovec with transformers on the same weights.

GGUF holds attn_q/attn_k permuted for llama.cpp's adjacent-pair RoPE; HF rotates halves, so they are
un-permuted here (the inverse of llama.cpp's convert_hf_to_gguf.py permute). A matrix of ggml dims {in, out}
is numpy (out, in), HF's Linear layout. Needs numpy and torch (for safetensors)."""
import json
import struct
import sys
from pathlib import Path

import numpy as np

GGML_NP = {0: np.float32, 1: np.float16}  # F32, F16; BF16 (30) handled below
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_gguf(path):
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("<I"), take("<Q")
            return [value(et) for _ in range(n)]
        return take(SCALARS[t])

    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    pos = 4
    take("<I")
    n_tensors, n_kv = take("<Q"), take("<Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("<Q") for _ in range(take("<I"))]
        infos.append((name, dims, take("<I"), take("<Q")))
    align = meta.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, t, off in infos:
        n = int(np.prod(dims))
        if t == 30:  # BF16
            raw = np.frombuffer(data, np.uint16, n, start + off).astype(np.uint32) << 16
            arr = raw.view(np.float32)
        elif t in GGML_NP:
            arr = np.frombuffer(data, GGML_NP[t], n, start + off)
        else:
            sys.exit(f"{path}: tensor {name} has ggml type {t}; export F32, F16 or BF16 models")
        tensors[name] = arr.reshape(list(reversed(dims)))
    return meta, tensors


def unpermute(w, n_head):
    out, inp = w.shape
    return w.reshape(n_head, out // n_head // 2, 2, inp).swapaxes(1, 2).reshape(out, inp)


def main(gguf, out_dir):
    meta, t = read_gguf(gguf)
    if meta.get("general.architecture") != "llama":
        sys.exit(f"{gguf}: architecture {meta.get('general.architecture')}, expected llama")
    g = lambda k: meta["llama." + k]
    n_layer, n_head, n_kv = g("block_count"), g("attention.head_count"), g("attention.head_count_kv")
    width = g("embedding_length")
    vocab = t["token_embd.weight"].shape[0]
    tied = "output.weight" not in t
    import torch
    from safetensors.torch import save_file

    sd = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    if not tied:
        sd["lm_head.weight"] = t["output.weight"]
    for l in range(n_layer):
        b, h = f"blk.{l}.", f"model.layers.{l}."
        sd[h + "input_layernorm.weight"] = t[b + "attn_norm.weight"]
        sd[h + "self_attn.q_proj.weight"] = unpermute(t[b + "attn_q.weight"], n_head)
        sd[h + "self_attn.k_proj.weight"] = unpermute(t[b + "attn_k.weight"], n_kv)
        sd[h + "self_attn.v_proj.weight"] = t[b + "attn_v.weight"]
        sd[h + "self_attn.o_proj.weight"] = t[b + "attn_output.weight"]
        sd[h + "post_attention_layernorm.weight"] = t[b + "ffn_norm.weight"]
        sd[h + "mlp.gate_proj.weight"] = t[b + "ffn_gate.weight"]
        sd[h + "mlp.up_proj.weight"] = t[b + "ffn_up.weight"]
        sd[h + "mlp.down_proj.weight"] = t[b + "ffn_down.weight"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, str(out / "model.safetensors"))
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192}
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": width,
        "intermediate_size": g("feed_forward_length"), "num_hidden_layers": n_layer, "num_attention_heads": n_head,
        "num_key_value_heads": n_kv, "head_dim": width // n_head, "rms_norm_eps": g("attention.layer_norm_rms_epsilon"),
        "rope_theta": g("rope.freq_base"), "rope_scaling": rope,
        "rope_parameters": dict(rope, rope_theta=g("rope.freq_base")),
        "max_position_embeddings": g("context_length"), "vocab_size": vocab, "tie_word_embeddings": tied,
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False, "bos_token_id": 128000, "eos_token_id": 128009,
        "torch_dtype": "float16",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    print(f"exported {gguf} -> {out} ({n_layer} layers, width {width}, vocab {vocab})")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: export_hf.py MODEL.gguf OUT_DIR")
    main(sys.argv[1], sys.argv[2])
