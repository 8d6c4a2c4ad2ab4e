#!/usr/bin/env bash
# The whole GPU-machine sequence, run there from the repository root after tools/device-bundle.sh made .device/:
#   1. unpack the JRE and llama.cpp source; build libllama + ggml-cuda (sm_90a) + libemovec + llama-batched-bench
#   2. write the llama-3.1-8b preset in F16 with emovec make-model
#   3. peer: llama-batched-bench, 256 sequences, 64 prompt tokens, 256 generated tokens
#   4. emovec generate on the same model, batch and lengths, sampling on (host sampler variants: SAMPLERS)
#   5. print both figures and the ratio
#   hooks job: emovec's CUDA captures and steering vs HF transformers (tools/hf-reference), and hook overhead (emovec bench)
# overhead job: what capture and steering cost (emovec bench hooks). trace job: GPU timelines (tools/cuda-trace).
# profile job: the host's CPU time while generating stories (async-profiler, tools/host-profile).
# bench job: emovec bench + peers (issue 5); hfstatic job: HF generate() with a static cache alone; f32out job: F16
# products with F32 output (emovec's llama.cpp patch) against without; speedpatch job: the two opt-in patches' bit-for-bit checks and timing; streams job: KV streams of 16 sequences against one a sequence, each against itself at another batch (tokens in law, decode rates); stories job: `emovec stories` timed, an A/B of jars (STORY_JARS); graphs job: bench with and without CUDA graph updates; budget job: --vram-budget, OOM errors. pipeline job: `emovec run` on the 8B shape, timed.
# JOBS picks the jobs (default "hooks overhead generate").
# Long: start it with `setsid bash tools/device-run.sh start` and poll with `bash tools/device-run.sh poll`
# from back-to-back device calls; `run` does it in the foreground. Stages already done are skipped.
# llama.cpp's CUDA build in .device-prebuilt/ (~40 MB; tools/device-bundle.sh) saves its ~4-minute build, but does
# not travel in one call with .device/ (~34 MB): a first call with carry [".device-prebuilt"] runs
# `bash tools/device-run.sh unpack`, the next (within the 30 s the machine stays warm) carries [".device"].
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
W=${EMOVEC_DEVICE_WORK:-/tmp/emovec-device}
LOG=$W/log.txt
mkdir -p "$W"

collect() {   # copy what exists so far into the device tool's $OUT
  [ -n "${OUT:-}" ] || return 0
  cp -f "$LOG" "$OUT/" 2>/dev/null || true
  tar -C "$W/results" -czf "$OUT/results.tgz" . 2>/dev/null || true   # one file: the device tool returns only a few
  # llama.cpp as built here, once (15 MiB parts: the tool returns 8 files of at most 16 MiB); copied into
  # .device-prebuilt/, the next session's fresh machine unpacks it instead of building (~4 minutes of its 30)
  if [ -d "$W/prebuilt" ] && [ ! -f "$W/.prebuilt-sent" ] && [ "$(ls "$W/prebuilt" | wc -l)" -le 6 ]; then
    cp "$W"/prebuilt/* "$OUT/" && touch "$W/.prebuilt-sent"
  fi
}

unpack_prebuilt() {   # llama.cpp as built before (.device-prebuilt/): build-native.sh uses it where its fingerprint matches
  mkdir -p "$W/cache/native"
  for archive in "$root"/.device-prebuilt/llama-*.tar.xz.part-00; do
    local key; key=$(basename "${archive%.tar.xz.part-00}")
    [ -f "$archive" ] && [ ! -d "$W/cache/native/$key" ] || continue
    cat "${archive%00}"* | tar -C "$W/cache/native" -xJ && echo "unpacked $key: $(cat "$W/cache/native/$key/.emovec-build")"
    # it runs on this GPU, or it goes (the run then builds): a few steps of llama-batched-bench on the tiny model
    local tiny=$root/.device-prebuilt/tiny-q4_k_m.gguf
    if [ -f "$tiny" ] && nvidia-smi -L > /dev/null 2>&1; then
      # (it runs on the CPU too where CUDA fails to start, so it must also list a CUDA device: this llama.cpp no
      # longer prints ggml_cuda_init's "found N CUDA devices" at its default verbosity)
      local bench=$W/cache/native/$key/bin/llama-batched-bench
      if "$bench" --list-devices > "$W/prebuilt-check.txt" 2>&1 && grep -q "^ *CUDA0" "$W/prebuilt-check.txt" \
          && "$bench" -m "$tiny" -ngl 99 -c 4096 -npp 128 -ntg 32 -npl 1,8 >> "$W/prebuilt-check.txt" 2>&1; then
        echo "$key runs here: $(grep -m1 "^ *CUDA0" "$W/prebuilt-check.txt" | sed 's/^ *//'); $(grep '^|' "$W/prebuilt-check.txt" | tail -n 1)"
      else
        echo "$key does not run here, removed (the run builds it): $(grep -m1 -i "error\|failed" "$W/prebuilt-check.txt" || tail -n 1 "$W/prebuilt-check.txt")"
        rm -rf "${W:?}/cache/native/$key"
      fi
    fi
  done
}

case "${1:-run}" in
  unpack) unpack_prebuilt; exit 0 ;;   # a call of its own: with .device/, the parts exceed what one call carries
  start) setsid nohup bash "$0" run >/dev/null 2>&1 < /dev/null & echo "started (log: $LOG)"; exit 0 ;;
  poll)
    limit=${2:-540}; t=0
    while [ $t -lt "$limit" ] && ! grep -q "^DONE\|^FAILED" "$LOG" 2>/dev/null; do sleep 10; t=$((t + 10)); done
    tail -n 40 "$LOG"; collect; exit 0 ;;
  run) ;;
  *) echo "usage: $0 [run|start|poll [seconds]|unpack]" >&2; exit 2 ;;
esac

exec > >(tee -a "$LOG") 2>&1
trap 'echo "FAILED at line $LINENO"' ERR
stamp() { echo "[$(date +%H:%M:%S)] $*"; }
mkdir -p "$W/results"

BACKEND=${BACKEND:-cuda} PRESET=${PRESET:-llama-3.1-8b} TYPE=${TYPE:-f16}
stamp "machine: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo no GPU), $(nproc) cores, profilers: $(ls /usr/local/cuda/bin/ 2>/dev/null | grep -E "^(nsys|ncu)$" | tr "\n" " ")$(command -v nsys ncu | tr "\n" " ")"
[ -d "$W/emovec-jre" ] || tar -C "$W" -xJf "$root/.device/jre.tar.xz"
[ -d "$W/llama.cpp-3.22.1" ] || tar -C "$W" -xJf "$root/.device/llama-src.tar.xz"
export JAVA_HOME=$W/emovec-jre

[ -d "$root/.device-prebuilt" ] && unpack_prebuilt   # a no-op where an unpack call did it
stamp "native $BACKEND build (CUDA architecture 90a)"
touch "$W/.build-start"
dirs=$(EMOVEC_CACHE=$W/cache EMOVEC_LLAMA_SRC=$W/llama.cpp-3.22.1 EMOVEC_BACKEND=$BACKEND EMOVEC_CUDA_ARCH=90a \
  EMOVEC_LLAMA_TOOLS=1 bash "$root/cmake/build-native.sh" 2> "$W/build.log") || { tail -n 30 "$W/build.log"; false; }
prefix=$(echo "$dirs" | sed -n 1p)   # llama.cpp
own=$(echo "$dirs" | sed -n 2p)      # libemovec
stamp "native build in $prefix and $own ($(grep -q "used as it is" "$W/build.log" && echo "llama.cpp as built before, from .device-prebuilt/" || echo "llama.cpp built here"))"
if [ "$prefix/.emovec-build" -nt "$W/.build-start" ]; then
  # built here: packed in parts the device tool returns (collect), to be copied into .device-prebuilt/ for later sessions
  bash "$root/tools/pack-native.sh" "$prefix" "$W/prebuilt" 2>&1 | sed "s/^/[$(date +%H:%M:%S)] for later sessions: /"
fi

emovec() {
  "$JAVA_HOME/bin/java" ${EMOVEC_JAVA_OPTS:-} -Djava.library.path="$prefix/lib:$own/lib" -Dorg.bytedeco.javacpp.pathsFirst=true \
    -jar "${EMOVEC_JAR:-$root/.device/emovec.jar}" "$@"
}

ensure_model() {   # preset $1 in weight type $2 at $3, written (random weights, seed 0) unless there already
  [ -f "$3" ] || { stamp "make-model $1 $2"; emovec make-model --preset "$1" --type "$2" --seed 0 -o "$3"; }
}

model=$W/$PRESET-$TYPE.gguf
ensure_model "$PRESET" "$TYPE" "$model"
emovec info "$model" | tee "$W/results/model-info.txt"

write_prompts() {   # $1 distinct prompts of ~64 tokens, as JSON lines
  python3 - "$1" <<'PY'
import json, sys
words = ("the river carried old light across the valley while children counted boats and their parents "
         "argued softly about bread weather letters trains music gardens winter roads lamps windows "
         "stones bridges clocks songs maps coats doors fields").split()
for i in range(int(sys.argv[1])):
    text = f"{i}. " + " ".join(words[(i + j) % len(words)] for j in range(60))
    print(json.dumps({"id": f"p{i}", "text": text}))
PY
}

write_steering_vector() {   # a random unit vector of the 8B shape's width (seed 0), as .npy, to steer with
  python3 -c "import numpy as np, sys; v=np.random.default_rng(0).standard_normal(4096); np.save(sys.argv[1], (v/np.linalg.norm(v)).astype('<f4')[None])" "$1"
}

tokens_digest() {   # a digest of every sequence's tokens in an `emovec generate` output
  python3 -c "import json,sys,hashlib; r=sorted((j['id'],j['tokens']) for j in map(json.loads,open(sys.argv[1]))); print(hashlib.sha256(json.dumps(r).encode()).hexdigest())" "$1"
}

job_generate() {
  NPL=${NPL:-256} NPP=${NPP:-64} NTG=${NTG:-256}
  stamp "peer: llama-batched-bench -npp $NPP -ntg $NTG -npl $NPL"
  "$prefix/bin/llama-batched-bench" -m "$model" -c $((NPL * (NPP + NTG))) -b 2048 -ub 512 -ngl 99 \
    -npp "$NPP" -ntg "$NTG" -npl "$NPL" --output-format jsonl 2> "$W/batched-bench.log" | tee "$W/results/batched-bench.jsonl"

  stamp "emovec generate: $NPL sequences, ~$NPP prompt tokens, $NTG new tokens, sampling on"
  # two waves of distinct prompts (none shared, as the peer's): one context runs them in turn, two contexts
  # (host-lanes) side by side
  write_prompts "$((2 * NPL))" > "$W/prompts.jsonl"
  for sampler in ${SAMPLERS:-host host-copy host-lanes}; do
    # host: candidates from the device top-k (the logits of decode-only steps stay on the device);
    # host-copy: the same, but llama.cpp copies the logits to the host every step (as llama-batched-bench does);
    # host-full: whole logits rows sampled on the host; host-nokernel: the device top-k kernel skipped;
    # host-lanes: as host, on two contexts of NPL sequences stepped in turn
    extra=(); lanes=1; export EMOVEC_HOOK_CUDA=1
    case "$sampler" in
      host-lanes) lanes=2 ;;
      host-copy) extra=(-Demovec.hookDiagnostics=4) ;;
      host-full) extra=(-Demovec.hookTopK=0) ;;
      host-nokernel) export EMOVEC_HOOK_CUDA=0 ;;
    esac
    stamp "emovec generate --sampler $sampler"
    EMOVEC_JAVA_OPTS="${extra[*]:-}" emovec generate --model "$model" --prompts "$W/prompts.jsonl" \
      -o "$W/generate-$sampler.jsonl" --parallel "$NPL" --ctx $((NPP + NTG + 16)) --max-tokens "$NTG" --ignore-eog --lanes "$lanes" \
      --temperature 0.8 --top-k 40 --top-p 0.95 --sampler "${sampler%%-*}" --quiet --stats "$W/results/emovec-stats-$sampler.json" \
      || stamp "emovec generate --sampler $sampler FAILED"
    # A digest of every sequence's tokens: the host variants must agree exactly (same seeds, same semantics).
    tokens_digest "$W/generate-$sampler.jsonl" > "$W/results/tokens-$sampler.sha256" 2>/dev/null || true
    rm -f "$W/generate-$sampler.jsonl"   # 65k tokens of random text: not worth carrying back
  done

  python3 - "$W/results" <<'PY'
import glob, json, sys
d = sys.argv[1]
bb = [json.loads(l) for l in open(f"{d}/batched-bench.jsonl") if l.startswith("{")][-1]
s_tg = bb["speed_tg"]
summary = {"batched_bench": bb}
print(f"llama-batched-bench S_TG: {s_tg:.0f} tok/s (npl {bb['pl']}, npp {bb['pp']}, ntg {bb['tg']}, no sampling)")
for f in sorted(glob.glob(f"{d}/emovec-stats-*.json")):
    sampler = f.split("emovec-stats-", 1)[1][:-5]
    st = json.load(open(f))
    ours, overall = st["decode_only_tokens_per_second"], st["overall_tokens_per_second"]
    print(f"emovec --sampler {sampler}: decode-only steps {ours:.0f} tok/s = {ours / s_tg:.1%} of S_TG; "
          f"overall incl. prefill {overall:.0f} tok/s = {overall / s_tg:.1%}; "
          f"decode-only step {st['decodeOnlyNanos'] / 1e6 / st['decodeOnlySteps']:.2f} ms (peer {bb['pl'] * 1e3 / s_tg:.2f}), "
          f"GPU+copy {st['decodeNanos'] / 1e9:.2f} s, "
          f"sampling {st['sampleNanos'] / 1e9:.2f} s of {st['totalNanos'] / 1e9:.2f} s, "
          f"{st['rowsFromCandidates']} of {st['generatedTokens']} rows from device top-k, "
          f"logits kept on the device in {st.get('logitsKeptOnDevice', 0)} of {st['steps']} decodes")
    summary[sampler] = {"decode_only": ours, "overall": overall, "ratio_decode_only": ours / s_tg, "ratio_overall": overall / s_tg}
digests = {f.split("tokens-", 1)[1][:-7]: open(f).read().strip() for f in glob.glob(f"{d}/tokens-*.sha256")}
# the one-context variants decode the same batches, so their tokens must agree to the bit; host-lanes' second
# context starts its wave at once where one context refills slot by slot, and CUDA's rounding follows the batch
host = {k: v for k, v in digests.items() if k.startswith("host") and k != "host-lanes"}
if len(host) > 1:
    same = len(set(host.values())) == 1
    print(f"tokens of {', '.join(sorted(host))}: {'identical' if same else 'DIFFERENT'}")
    summary["host_sampler_tokens_identical"] = same
json.dump(summary, open(f"{d}/summary.json", "w"), indent=2)
PY
}

job_hooks() {
  # Reference 2: our CUDA engine vs HF transformers on the same weights (the 8B shape cut to 4 layers), with
  # F16 weights (llama.cpp's F16 arithmetic) and F32 weights + F32 KV cache (what remains is the hooks' own error).
  python3 - > "$W/ab-prompts.jsonl" <<'PY'
import json
pairs = [("go hiking in the hills", "stay home and read a book"), ("visit a crowded market", "walk alone by the sea"),
         ("cook dinner for friends", "fix an old bicycle"), ("learn a new language", "clean the garage"),
         ("paint a small picture", "answer a pile of emails"), ("watch a thunderstorm", "plant tomatoes"),
         ("sing in a choir", "sort old photographs"), ("bake bread at dawn", "swim in a cold lake")]
for i, (a, b) in enumerate(pairs):
    text = f"Which would you prefer? Option A: {a}. Option B: {b}. Answer: ("
    print(json.dumps({"id": f"ab{i}", "text": text, "steer_text": a if i % 2 == 0 else b}))
PY
  write_steering_vector "$W/v.npy"
  for wt in ${HF_TYPES:-f16 f32}; do
    small=$W/llama-3.1-8b-4l-$wt.gguf
    exact=(); [ "$wt" = f32 ] && exact=(--exact-f32)
    ensure_model llama-3.1-8b-4l "$wt" "$small"
    [ -f "$W/hf-4l-$wt/config.json" ] || { stamp "export $wt to HF"; python3 "$root/tools/hf-reference/export_hf.py" "$small" "$W/hf-4l-$wt"; }
    stamp "emovec capture (CUDA, $wt weights): plain, every layer and position"
    emovec capture --model "$small" -p "$W/ab-prompts.jsonl" -o "$W/cap-plain-$wt" --layers all --reduce rows --logits all "${exact[@]}"
    stamp "emovec capture (CUDA, $wt weights): steered on one option's tokens, 16-token micro-batches"
    emovec capture --model "$small" -p "$W/ab-prompts.jsonl" -o "$W/cap-steered-$wt" --layers all --reduce rows --logits all \
      --ubatch 16 --steer "$W/v.npy" --steer-layer 1 --alpha-norm 0.5 "${exact[@]}"
    stamp "HF transformers (float32 and float16) on the same weights"
    python3 "$root/tools/hf-reference/compare.py" "$W/hf-4l-$wt" "$W/cap-plain-$wt" "$W/cap-steered-$wt" "$W/v.npy" > "$W/results/hf-compare-$wt.json"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); [d[k].pop('ab_delta') for k in ('emovec','hf_float16')]; d.pop('ab_delta_hf_float32'); print(json.dumps(d))" "$W/results/hf-compare-$wt.json"
    # Mean capture orders its kernels by an event on llama.cpp's stream; row capture synchronises: both must agree.
    stamp "CUDA mean capture (all layers, from position 5), plain and steered, vs the mean of the captured rows"
    emovec capture --model "$small" -p "$W/ab-prompts.jsonl" -o "$W/cap-mean-plain-$wt" --layers all --reduce mean --from 5 "${exact[@]}"
    emovec capture --model "$small" -p "$W/ab-prompts.jsonl" -o "$W/cap-mean-steered-$wt" --layers all --reduce mean --from 5 \
      --ubatch 16 --steer "$W/v.npy" --steer-layer 1 --alpha-norm 0.5 "${exact[@]}"
    for kind in plain steered; do
      python3 - "$W/cap-$kind-$wt" "$W/cap-mean-$kind-$wt" "$kind" <<'PY' | tee -a "$W/results/mean-check-$wt.txt"
import json, sys
import numpy as np
rows_dir, mean_dir, kind = sys.argv[1:4]
meta = json.load(open(f"{rows_dir}/capture.json"))
worst = 0.0
for l in meta["layers"]:
    rows, means = np.load(f"{rows_dir}/residual-L{l}.npy"), np.load(f"{mean_dir}/residual-L{l}.npy")
    for i, p in enumerate(meta["prompts"]):
        ref = rows[p["first_row"] + 5:p["first_row"] + p["rows"]].astype(np.float64).mean(0)
        worst = max(worst, float(np.linalg.norm(means[i] - ref) / np.linalg.norm(ref)))
print(f"{kind}: mean capture vs mean of captured rows: max rel. error {worst:.2e} ({'OK' if worst < 1e-4 else 'MISMATCH'})")
PY
    done
    rm -rf "$W/hf-4l-$wt" "$small"   # disk: the F32 export is 8 GB
  done
}

job_overhead() {
  # What the hooks cost on the full 8B shape (EMOVEC_HOOK_PROFILE: time inside the hook, per condition), decoding
  # on each number of contexts in HOOK_LANES (two: the host's time between steps hidden behind the other's GPU work)
  for n in ${HOOK_LANES:-1 2}; do
    stamp "emovec bench hooks --lanes $n on $model"
    EMOVEC_HOOK_PROFILE=1 emovec bench hooks --model "$model" --lanes "$n" -o "$W/results/bench-hooks-lanes$n.json" 2>&1 | grep -v n_ctx | tee "$W/results/bench-hooks-lanes$n.txt"
  done
}

job_pipeline() {
  # The experiment end to end on the 8B shape (random weights: the checks must fail), timed per stage, for each
  # weight type in PIPE_TYPES, at the scale PIPE_ARGS gives (default: 12 emotions x 5 topics x 4 stories).
  for wt in ${PIPE_TYPES:-f16 q4_k_m}; do
    m=$W/$PRESET-$wt.gguf
    ensure_model "$PRESET" "$wt" "$m"
    stamp "emovec run on $m"
    emovec run --model "$m" --out "$W/run-$wt" ${PIPE_ARGS:---emotions 12 --topics 5 --stories 4 --story-max-tokens 300} \
      --parallel 256 --quiet 2>&1 | grep -v n_ctx | tee "$W/results/pipeline-$wt.txt"
    for f in validate/L21.json stories/complete.json vectors/vectors.json timings.json; do cp "$W/run-$wt/$f" "$W/results/$wt-$(basename "$f")" 2>/dev/null || true; done
    tar -C "$W/run-$wt" -czf "$W/results/report-$wt.tgz" report
  done
}

hf_export() {   # the model as an HF folder (tools/hf-reference), the HF peers' weights
  [ -f "$W/hf-$TYPE/config.json" ] || python3 "$root/tools/hf-reference/export_hf.py" "$model" "$W/hf-$TYPE" > /dev/null
}

hf_static() {   # HF at its fastest: generate() with a static cache, which transformers compiles; at $1 + $2 tokens
  hf_export
  stamp "peer: HF generate() with a static cache at $1 + $2, batches ${HF_STATIC_BATCHES:-512,256}"
  # (640, dynamic's best, does not fit: the static cache, the weights and the compiled graphs' buffers pass 80 GB)
  timeout "${HF_STATIC_LIMIT:-480}" python3 "$root/tools/peers/hf_peers.py" "$W/hf-$TYPE" --cache static \
    --generate "$1+$2@${HF_STATIC_BATCHES:-512,256}" --forward none 2>&1 | grep -v Warning | tee "$W/hf-peers-static.txt" || true
  grep '^{"dtype"' "$W/hf-peers-static.txt" > "$W/results/hf-peers-static.json" \
    || grep '^{"prompt"' "$W/hf-peers-static.txt" > "$W/results/hf-peers-static.jsonl" || true   # cut off: each batch's line
}

job_hfstatic() {   # hf_static alone, at the bench's story lengths, after the dynamic cache at HF_BATCHES (none: skipped)
  local spp=${SPP:-221} stg=${STG:-300} batches=${HF_BATCHES:-640}
  hf_export
  if [ "$batches" != none ]; then
    stamp "peer: HF generate() with its default (dynamic) cache at $spp + $stg, batches $batches"
    python3 "$root/tools/peers/hf_peers.py" "$W/hf-$TYPE" --generate "$spp+$stg@$batches" --forward none 2>&1 | grep -v Warning \
      | tee "$W/hf-peers-dynamic.txt"
    tail -n 1 "$W/hf-peers-dynamic.txt" > "$W/results/hf-peers.json"
  fi
  hf_static "$spp" "$stg"
}

job_bench() {
  # Issue 5: emovec bench (the pipeline's own work) and its peers on the same weights, in one run; for each weight
  # type in BENCH_TYPES (default TYPE), results named by type.
  for t in ${BENCH_TYPES:-$TYPE}; do bench_type "$t"; done
}

bench_type() {
  local TYPE=$1 model=$W/$PRESET-$1.gguf
  ensure_model "$PRESET" "$TYPE" "$model"
  stamp "emovec bench on $model"
  # 16 x 4 x 12 = 768 stories: three full waves of 256, so the rate is not a part-empty last wave's
  # types in BENCH_QUICK_TYPES: the pipeline's own rows only (bench --no-comparisons, about a third of the time)
  local layouts="--extraction-shapes ${EXTRACTION_SHAPES:-2048x2048,8192x8192}"
  case " ${BENCH_QUICK_TYPES:-} " in *" $TYPE "*) layouts="--no-comparisons" ;; esac
  emovec bench --model "$model" ${BENCH_ARGS:---emotions 16 --topics 4} --parallel 256 $layouts -o "$W/results/bench-$TYPE.json" 2>&1 | grep -v n_ctx | tee "$W/results/bench-$TYPE.txt"
  stamp "peer: llama-batched-bench decode (256 x 64 + 256) and prefill (16 x 512)"
  "$prefix/bin/llama-batched-bench" -m "$model" -c $((256 * 320)) -b 2048 -ub 512 -ngl 99 -npp 64 -ntg 256 -npl 256 \
    --output-format jsonl 2> "$W/bb.log" | grep '^{' > "$W/results/bb-decode-$TYPE.jsonl"
  "$prefix/bin/llama-batched-bench" -m "$model" -c 8704 -b 8704 -ub 512 -ngl 99 -npp 512 -ntg 1 -npl 16 \
    --output-format jsonl 2>> "$W/bb.log" | grep '^{' > "$W/results/bb-prefill-$TYPE.jsonl"
  # the stories' own lengths (their prompt, their token cap): attention over longer sequences costs more per step
  read -r spp stg < <(python3 -c "import json,sys; b=json.load(open(sys.argv[1])); print(b['story_prompt_tokens'], b['story_max_tokens'])" "$W/results/bench-$TYPE.json")
  stamp "peer: llama-batched-bench at the stories' lengths (256 x $spp + $stg)"
  "$prefix/bin/llama-batched-bench" -m "$model" -c $((256 * (spp + stg))) -b 2048 -ub 512 -ngl 99 -npp "$spp" -ntg "$stg" -npl 256 \
    --output-format jsonl 2>> "$W/bb.log" | grep '^{' > "$W/results/bb-stories-$TYPE.jsonl"
  # the same with a q8_0 KV cache: the peer of bench's stories row with --kv-cache q8_0
  "$prefix/bin/llama-batched-bench" -m "$model" -c $((256 * (spp + stg))) -b 2048 -ub 512 -ngl 99 -npp "$spp" -ntg "$stg" -npl 256 \
    -fa on -ctk q8_0 -ctv q8_0 --output-format jsonl 2>> "$W/bb.log" | grep '^{' > "$W/results/bb-stories-q8_0-$TYPE.jsonl"
  if [ -z "${NO_HF:-}" ] && [ ! -s "$W/results/hf-peers.json" ]; then   # once a run
    # generate() at the brief's lengths (64 + 128; HF_BRIEF_SHAPE="": not run) and at the stories' own, at batch
    # sizes up to what fits (HF's rate grows with the batch: a step of 640 sequences costs 1.4 times one of 256); the
    # forward pass with hidden states in float16, then in bfloat16 (BF16 weights' peer: the same folder, rounded
    # again; speed does not depend on the values)
    stamp "peer: HF transformers (export, generate at 64 + 128 and $spp + $stg, forward with hidden states)"
    hf_export
    python3 "$root/tools/peers/hf_peers.py" "$W/hf-$TYPE" --generate ${HF_BRIEF_SHAPE-64+128@450} "$spp+$stg@${HF_BATCHES:-256,450,512,640,768}" 2>&1 | grep -v Warning | tee "$W/hf-peers.txt"
    tail -n 1 "$W/hf-peers.txt" > "$W/results/hf-peers.json"
    if [ -z "${NO_HF_BF16:-}" ]; then
      python3 "$root/tools/peers/hf_peers.py" "$W/hf-$TYPE" --dtype bfloat16 --generate none 2>&1 | grep -v Warning | tee "$W/hf-peers-bf16.txt"
      tail -n 1 "$W/hf-peers-bf16.txt" > "$W/results/hf-peers-bf16.json"
    fi
    if [ -z "${NO_HF_STATIC:-}" ]; then   # last: slow
      python3 "$root/tools/peers/ratios.py" "$W/results" "$TYPE" > "$W/results/ratios-$TYPE.txt" || true   # in case time runs out
      hf_static "$spp" "$stg"
    fi
    rm -rf "$W/hf-$TYPE"
  fi
  python3 "$root/tools/peers/ratios.py" "$W/results" "$TYPE" | tee "$W/results/ratios-$TYPE.txt"
}

bench_variant() {   # emovec bench as the environment stands, into results/bench-$1.{json,txt}; the stage rows shown
  local name=$1; shift
  emovec bench --model "$model" ${BENCH_ARGS:---emotions 32 --topics 4} --parallel 256 "$@" \
    -o "$W/results/bench-$name.json" 2>&1 | grep -v n_ctx | tee "$W/results/bench-$name.txt" | grep -i "stories\|extraction\|preference"
}

bench_alternated() {   # the pipeline's rows (bench --no-comparisons) for each variant in turn, in each round of $1, so
  # that drift shows as drift; a variant is NAME:VAR=VALUE[,VAR=VALUE...], set for its run only (bench-NAME-ROUND.*)
  local rounds=$1 round v; shift
  for round in $rounds; do
    for v in "$@"; do
      stamp "emovec bench --no-comparisons, ${v%%:*} (${v#*:}, round $round)"
      ( IFS=, read -ra settings <<< "${v#*:}"; export "${settings[@]}"; bench_variant "${v%%:*}-$round" --no-comparisons )
    done
  done
}

job_graphs() {
  # What ggml-cuda's CUDA graphs are worth, and what re-instantiating them costs (native/src/cuda_graphs.cu): the
  # bench's stories, extraction and preferences as emovec runs them, with llama.cpp's in-place graph updates
  # (EMOVEC_CUDA_GRAPH_UPDATE=1), and with no CUDA graphs (GGML_CUDA_DISABLE_GRAPHS=1); GRAPH_VARIANTS picks them.
  for v in ${GRAPH_VARIANTS:-default update nographs}; do
    stamp "emovec bench, CUDA graphs: $v"
    case $v in update) export EMOVEC_CUDA_GRAPH_UPDATE=1 ;; nographs) export GGML_CUDA_DISABLE_GRAPHS=1 ;; esac
    bench_variant "graphs-$v" --extraction-shapes 1024x1024
    unset EMOVEC_CUDA_GRAPH_UPDATE GGML_CUDA_DISABLE_GRAPHS
  done
}

job_f32out() {
  # F16 matrix products accumulating in F32 and writing F32 (cmake/llama/patches/ggml-cuda-f16-f32-output.patch,
  # emovec's default: EMOVEC_CUBLAS_F16_F32_OUTPUT=1) against llama.cpp's F16 accumulation and F16 output converted
  # back to F32 after every product (=0): the pipeline's rows (bench --no-comparisons), alternated for two rounds.
  # F32OUT_ROUNDS and F32OUT_VARIANTS pick fewer (e.g. "1" and "f16out" after a bench).
  local variants=() v
  for v in ${F32OUT_VARIANTS:-f16out f32out}; do
    variants+=("$v:EMOVEC_CUBLAS_F16_F32_OUTPUT=$([ "$v" = f32out ] && echo 1 || echo 0)")
  done
  bench_alternated "${F32OUT_ROUNDS:-1 2}" "${variants[@]}"
}

job_speedpatch() {
  # emovec's opt-in llama.cpp patches, each off unless its switch is 1: EMOVEC_FATTN_KV_MAX_HALF_TILES (flash
  # attention skips a stream's masked KV tail in half tiles, cmake/llama/patches/ggml-cuda-fattn-kv-max-half-tiles.patch)
  # and EMOVEC_CUBLAS_REUSE_INPUT (one F32->F16 conversion per distinct product input, ggml-cuda-f16-input-reuse.patch).
  # Neither may change a bit: 1. the tokens of `emovec generate` on one context (the same batches run to run) and the
  # rows and logits of `emovec capture` (plain, and steered in 16-token micro-batches), with each switch on and both,
  # against both off (and both off again: the same bits run to run); 2. the pipeline's rows (bench --no-comparisons)
  # timed with both off and both on, alternated.
  # SPEEDPATCH_ROUNDS picks the timed rounds (default "1 2"; "" for the checks alone), SPEEDPATCH_PROMPTS the prompts
  # generated from (default 512: two waves of 256).
  local variants=(off:0:0 off-again:0:0 halftiles:1:0 reuse:0:1 both:1:1) small=$W/llama-3.1-8b-4l-f16.gguf v name a b
  ensure_model llama-3.1-8b-4l f16 "$small"
  write_prompts "${SPEEDPATCH_PROMPTS:-512}" > "$W/prompts.jsonl"
  write_prompts 64 > "$W/prompts-64.jsonl"   # for capture: every row of 3 blocks (and the last logits) of 64 prompts
  write_steering_vector "$W/v.npy"
  for v in "${variants[@]}"; do
    IFS=: read -r name a b <<< "$v"
    export EMOVEC_FATTN_KV_MAX_HALF_TILES=$a EMOVEC_CUBLAS_REUSE_INPUT=$b
    stamp "switches $name: emovec generate (one context, ${SPEEDPATCH_PROMPTS:-512} x 64 + 256) and capture"
    emovec generate --model "$model" --prompts "$W/prompts.jsonl" -o "$W/gen-$name.jsonl" --parallel 256 --ctx 336 \
      --max-tokens 256 --ignore-eog --lanes 1 --temperature 0.8 --top-k 40 --top-p 0.95 --quiet --stats "$W/results/speedpatch-stats-$name.json" \
      || stamp "generate FAILED"
    tokens_digest "$W/gen-$name.jsonl" > "$W/results/speedpatch-tokens-$name.sha256" || rm -f "$W/results/speedpatch-tokens-$name.sha256"
    rm -f "$W/gen-$name.jsonl"
    # (blocks 0-2: the last block's rows would cost every position's logits)
    rm -rf "$W/spcap-plain-$name" "$W/spcap-steered-$name"
    emovec capture --model "$small" -p "$W/prompts-64.jsonl" -o "$W/spcap-plain-$name" --layers 0-2 --reduce rows --logits last \
      || stamp "capture FAILED"
    emovec capture --model "$small" -p "$W/prompts-64.jsonl" -o "$W/spcap-steered-$name" --layers 0-2 --reduce rows --logits last \
      --ubatch 16 --steer "$W/v.npy" --steer-layer 1 --alpha-norm 0.5 || stamp "capture FAILED"
  done
  unset EMOVEC_FATTN_KV_MAX_HALF_TILES EMOVEC_CUBLAS_REUSE_INPUT
  for v in "${variants[@]:1}"; do
    name=${v%%:*}
    same=identical
    [ -s "$W/results/speedpatch-tokens-off.sha256" ] && cmp -s "$W/results/speedpatch-tokens-off.sha256" \
      "$W/results/speedpatch-tokens-$name.sha256" || same="DIFFERENT or missing"
    for kind in plain steered; do   # the arrays (capture.json may name its own folder): three layers and the logits
      for f in residual-L0 residual-L1 residual-L2 logits; do
        cmp -s "$W/spcap-$kind-off/$f.npy" "$W/spcap-$kind-$name/$f.npy" || { same="$same, capture $kind $f DIFFERENT or missing"; break; }
      done
    done
    stamp "switches $name against off: tokens and captures $same" | tee -a "$W/results/speedpatch-check.txt"
  done
  bench_alternated "${SPEEDPATCH_ROUNDS-1 2}" speedpatch-off:EMOVEC_FATTN_KV_MAX_HALF_TILES=0,EMOVEC_CUBLAS_REUSE_INPUT=0 \
    speedpatch-both:EMOVEC_FATTN_KV_MAX_HALF_TILES=1,EMOVEC_CUBLAS_REUSE_INPUT=1
}

job_streams() {
  # KV streams of several sequences (cmake/llama/patches/llama-kv-seqs-per-stream.patch; 16 by default on a GPU):
  # greedy `emovec generate` of 64 prompts x 8 repeats (shared within a stream), with streams of 16
  # against a stream per sequence, and as controls each layout at another batch shape (128 parallel): on CUDA the
  # kernels change with the batch's shape (and attention's with the queries a stream holds), so tokens agree in law,
  # not bit for bit. Where tokens first part, and how often the first differs, against llama.cpp's layout and within
  # each layout. Then the decode rate of each, for the record. STREAMS_VARIANTS picks them (NAME:SEQS_A_STREAM:PARALLEL;
  # per-seq first), STREAMS_LANES the contexts (default 1: the host's time a step shows; 2: the pipeline's way).
  local n variants=${STREAMS_VARIANTS:-per-seq:1:256 control:1:128 streams:16:256 streams-control:16:128}
  write_prompts 64 | python3 -c "import json,sys; ps=[json.loads(l) for l in sys.stdin]; [print(json.dumps({'id': p['id'] + '-' + str(r), 'text': p['text']})) for p in ps for r in range(8)]" > "$W/prompts-rep.jsonl"
  for v in $variants; do
    IFS=: read -r name n par <<< "$v"
    stamp "emovec generate, greedy, 512 x ~64 + 128, --seqs-per-stream $n --parallel $par ($name)"
    emovec generate --model "$model" --prompts "$W/prompts-rep.jsonl" -o "$W/streams-$name.jsonl" --parallel "$par" --ctx 208 \
      --max-tokens 128 --ignore-eog --lanes "${STREAMS_LANES:-1}" --temperature 0 --seqs-per-stream "$n" --quiet --stats "$W/results/streams-stats-$name.json" \
      || stamp "generate FAILED"
  done
  python3 - "$W" "$variants" <<'PY' | tee "$W/results/streams-check.txt"
import json, statistics, sys
w = sys.argv[1]
names = [v.split(":")[0] for v in sys.argv[2].split()]
runs = {n: {j["id"]: j["tokens"] for j in map(json.loads, open(f"{w}/streams-{n}.jsonl"))} for n in names}
def agreement(a, b):
    first = [next((k for k, (x, y) in enumerate(zip(t, runs[b][i])) if x != y), len(t)) for i, t in runs[a].items()]
    same = sum(t == runs[b][i] for i, t in runs[a].items())
    return (f"{same} of {len(first)} sequences identical, first token differs in {sum(k == 0 for k in first)},"
            f" tokens agree up to {sum(first) / len(first):.1f} of 128 on average (median {statistics.median(first):.0f})")
for n in names:
    stats = json.load(open(f"{w}/results/streams-stats-{n}.json"))
    print(f"{n}: decode-only {stats['decode_only_tokens_per_second']:.0f} tok/s, overall {stats['overall_tokens_per_second']:.0f}")
for a, b in (("control", "per-seq"), ("streams", "per-seq"), ("streams-control", "streams")):
    if a in runs and b in runs:
        print(f"{a} vs {b}: {agreement(a, b)}")
PY
}

job_trace() {
  # GPU timelines (tools/cuda-trace: CUPTI, as the machine has no nsys) of the hook overhead bench and of the
  # pipeline bench's extraction and preference stages, summarised per phase (GPU busy, idle gaps, top kernels).
  # TRACES picks them: hooks (emovec bench hooks, one round), hooks-lanes2 (its decode on two contexts in turn),
  # bench (two emotions, one topic), bench-bf16 (the same on BF16 weights: llama.cpp's BF16 cuBLAS path writes F32
  # directly, its F16 path converts), stories (full waves of 256 stories), peer-stories (llama-batched-bench at their
  # lengths). TRACE_API=1 also records the host's CUDA runtime calls.
  bash "$root/tools/cuda-trace/build.sh" "$W/trace" || { stamp "cuda-trace build FAILED"; return 0; }
  for what in ${TRACES:-hooks bench}; do
    m=$model; cmd=()
    case $what in
      hooks) cmd=(bench hooks --model "$m" --repeats 1) ;;
      hooks-lanes2) cmd=(bench hooks --model "$m" --repeats 1 --lanes 2) ;;
      bench*)
        [ "$what" = bench-bf16 ] && { m=$W/$PRESET-bf16.gguf; ensure_model "$PRESET" bf16 "$m"; }
        cmd=(bench --model "$m" --emotions 2 --topics 1 --parallel 256 --extraction-shapes ${TRACE_SHAPES:-2048x1024,4096x2048}) ;;
      stories)   # full waves of 256: prefilled and shared on two contexts, shared on one (then a short extraction)
        cmd=(bench --model "$m" --emotions 16 --topics 4 --stories 8 --parallel 256 --extraction-shapes 1024x1024) ;;
      peer-stories)   # the peer of `stories`: llama-batched-bench at the stories' lengths, no sampling
        cmd=(peer bash -c '"$@" 2> /dev/null' - "$prefix/bin/llama-batched-bench" -m "$m" -c $((256 * 521)) -b 2048 -ub 512 -ngl 99 -npp 221 -ntg 300 -npl 256) ;;
    esac
    stamp "traced: ${cmd[*]}"
    rm -f "$W/trace-$what.csv" "$W/marks-$what.txt"
    [ "${cmd[0]}" = peer ] && cmd=("${cmd[@]:1}") || cmd=(emovec "${cmd[@]}")
    CUDA_INJECTION64_PATH=$W/trace/libcuda-trace.so CUDA_TRACE_OUT=$W/trace-$what.csv CUDA_TRACE_API=${TRACE_API:-} EMOVEC_HOOK_PROFILE=1 "${cmd[@]}" 2>&1 \
      | grep --line-buffered -v n_ctx | python3 "$root/tools/cuda-trace/stamp.py" "$W/marks-$what.txt"
    python3 "$root/tools/cuda-trace/analyze.py" "$W/trace-$what.csv" "$W/marks-$what.txt" --steps 150 > "$W/results/trace-$what.txt" || stamp "analyze FAILED"
    head -c 20000 "$W/results/trace-$what.txt"
    cp "$W/marks-$what.txt" "$W/results/"
    ls -la "$W/trace-$what.csv"
  done
}

job_profile() {
  # Where the host's time goes while stories are generated (the GPU idles between steps when it outgrows a step):
  # async-profiler (CPU time, Java and native frames) over emovec bench's stories on PROFILE_LANES contexts
  # (0: the default); PROFILER=0 runs without it (the hooks' own counters and the per-step host times only).
  for n in ${PROFILE_LANES:-1 2}; do
    stamp "profiled: emovec bench (stories) --lanes $n"
    rm -f "$W/profile-lanes$n.collapsed"
    agent="-agentpath:$root/.device/libasyncProfiler.so=start,event=itimer,interval=1000000,cstack=dwarf,threads,collapsed,file=$W/profile-lanes$n.collapsed"
    [ "${PROFILER:-1}" = 0 ] && agent=
    EMOVEC_JAVA_OPTS="$agent" EMOVEC_HOOK_PROFILE=1 emovec bench --model "$model" ${PROFILE_ARGS:---emotions 16 --topics 4 --stories 8} --parallel 256 --lanes "$n" --extraction-shapes 1024x1024 \
      -o "$W/results/bench-profiled-lanes$n.json" 2>&1 | grep -v n_ctx | tee "$W/results/bench-profiled-lanes$n.txt"
    [ -f "$W/profile-lanes$n.collapsed" ] || continue
    python3 "$root/tools/host-profile/summary.py" "$W/profile-lanes$n.collapsed" --only BatchGenerator > "$W/results/profile-lanes$n.txt" || stamp "summary FAILED"
    head -n 60 "$W/results/profile-lanes$n.txt"
    gzip -c "$W/profile-lanes$n.collapsed" > "$W/results/profile-lanes$n.collapsed.gz"
  done
}

job_budget() {
  # Issue 5 item 5: --vram-budget on Q4_K_M, peak device memory measured from outside (nvidia-smi, every 100 ms).
  m=$W/$PRESET-q4_k_m.gguf
  ensure_model "$PRESET" q4_k_m "$m"
  for b in ${BUDGETS:-8G 6G}; do
    stamp "emovec bench --vram-budget $b on $m"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$W/smi-$b.txt" & smi=$!
    emovec bench --model "$m" --vram-budget "$b" ${BUDGET_ARGS:---emotions 4 --topics 4} -o "$W/results/budget-$b.json" 2>&1 | grep -v n_ctx | tee "$W/results/budget-$b.txt"
    kill $smi; sleep 1
    echo "nvidia-smi peak memory.used during the run: $(sort -n "$W/smi-$b.txt" | tail -n 1) MiB (budget $b; idle before: $(head -n 1 "$W/smi-$b.txt") MiB)" | tee -a "$W/results/budget-$b.txt"
  done
  stamp "a budget that cannot hold the model, and more than fits (each must be a one-line error, exit 1)"
  set +e
  emovec bench --model "$m" --vram-budget 3G; echo "exit $?"
  emovec generate --model "$model" --prompts "$root/tools/peers/oom-prompts.jsonl" -o "$W/oom.jsonl" --parallel 256 --ctx 120000; echo "exit $?"
  set -e
}

job_stories() {
  # `emovec stories` timed alone, for each jar in STORY_JARS (files in .device/: an A/B of two builds on one machine,
  # whose rates drift 5% between machines) and each layout in STORY_LAYOUTS (;-separated), alternating jars.
  IFS=';' read -r -a layouts <<< "${STORY_LAYOUTS:---emotions 32 --topics 4}"
  for layout in "${layouts[@]}"; do
    for jar in ${STORY_JARS:-emovec.jar}; do
      stamp "emovec stories $layout with $jar"
      EMOVEC_JAR=$root/.device/$jar emovec stories --model "$model" --out "$W/stories-ab" --fresh $layout --stories 12 \
        --story-max-tokens 300 --neutral-topics 2 --parallel 256 --quiet 2>&1 | grep "^emovec stories: .*calls," | head -n 1 \
        | sed "s|^|$jar $layout: |" | tee -a "$W/results/stories-ab.txt"
    done
  done
}

job_corpus() {
  # Issue 5 item 4 (10% of the paper's corpus, timed) and issue 6's soak evidence: every 30 s, the stories done,
  # the Java process's resident memory and the device memory in use go to soak.csv.
  out=$W/corpus
  stamp "emovec stories + extract: ${CORPUS_ARGS:=--emotions 171 --topics 10 --stories 12 --story-max-tokens 300} on $model"
  ( echo "time_s,stories_done,activations_done,host_rss_mib,device_used_mib"; t0=$(date +%s)
    while sleep 30; do
      pid=$(pgrep -f "emovec.jar (stories|extract)" | head -n 1)
      echo "$(( $(date +%s) - t0 )),$(cat "$out/stories/journal.jsonl" 2>/dev/null | wc -l),$(ls "$out/activations" 2>/dev/null | grep -c json),$(( $(ps -o rss= -p "${pid:-1}" 2>/dev/null || echo 0) / 1024 )),$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits)"
    done ) > "$W/results/soak.csv" & mon=$!
  stories() { emovec stories --model "$model" --out "$out" $CORPUS_ARGS --parallel 256 --quiet 2>&1 | grep -v n_ctx | tee -a "$W/results/corpus.txt"; }
  rm -f "$W/results/corpus.txt"
  # an abort loses only the stories in flight: the rerun resumes from the journal (and runs its last wave again)
  stories || { stamp "stories stopped: resuming"; stories; }
  emovec extract --out "$out" --parallel 256 --quiet 2>&1 | grep -v n_ctx | tee -a "$W/results/corpus.txt"
  kill $mon
  cp "$out/timings.json" "$W/results/corpus-timings.json"
}

job_soak() {
  # Issue 6 item 6: 20 minutes of story generation with capture of every layer, a sample a minute (heap capped so
  # that growth would show as GC time or an error, not as a larger heap).
  stamp "emovec bench --soak-minutes ${SOAK_MINUTES:=20} on $model"
  # the GPU's clocks, temperature, power and throttle reasons every 30 s: a slowdown with flat clocks is ours
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,temperature.gpu,power.draw,clocks_throttle_reasons.active \
    --format=csv -l 30 > "$W/results/soak-gpu.csv" 2>/dev/null & smi=$!
  EMOVEC_JAVA_OPTS="-Xmx8g" emovec bench --model "$model" --soak-minutes "$SOAK_MINUTES" --parallel 256 -o "$W/results/soak.json" 2>&1 \
    | grep --line-buffered -v n_ctx | tee "$W/results/soak.txt"
  kill $smi 2>/dev/null || true
}

# GPU_COREDUMP=1: a GPU exception (illegal instruction or address) writes a small GPU core dump (no memory images);
# cuda-gdb then names the kernel, the instruction and the warp's state.
if [ "${GPU_COREDUMP:-0}" = 1 ]; then
  export CUDA_ENABLE_COREDUMP_ON_EXCEPTION=1 CUDA_ENABLE_CPU_COREDUMP_ON_EXCEPTION=0 CUDA_COREDUMP_FILE="$W/gpu-core.%p"
  export CUDA_COREDUMP_GENERATION_FLAGS="skip_nonrelocated_elf_images,skip_global_memory,skip_shared_memory,skip_local_memory,skip_constbank_memory"
fi
explain_gpu_cores() {
  for core in "$W"/gpu-core.*; do
    [ -f "$core" ] && [ "${core%.seen}" = "$core" ] || continue
    stamp "GPU core dump $core ($(du -h "$core" | cut -f1))"
    gdb=$(command -v cuda-gdb || echo /usr/local/cuda/bin/cuda-gdb)
    "$gdb" -batch -ex "target cudacore $core" -ex "info cuda kernels" -ex "bt" -ex 'x/6i $pc-32' 2>&1 | tail -n 40 \
      | tee "$W/results/$(basename "$core").txt"
    mv "$core" "$core.seen"
  done
}

for job in ${JOBS:-hooks overhead generate}; do
  stamp "job $job"
  "job_$job" || stamp "job $job FAILED"
  explain_gpu_cores
done
stamp "DONE"
echo "DONE"
