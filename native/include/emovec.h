// emovec's own native API, next to llama.h. Bound to Java by JavaCPP's parser (see java/llama).
#pragma once

#include "llama.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Version of this native layer; the Java side checks it matches.
const char * emovec_native_version(void);

// Route llama.cpp and ggml log lines to stderr, dropping those below min_level
// (a ggml_log_level: 1 debug, 2 info, 3 warn, 4 error). Java cannot cheaply pass a C callback.
void emovec_log_set_min_level(int32_t min_level);

// The last error line llama.cpp logged (on any thread), or "" when none; emovec_clear_last_error resets it.
const char * emovec_last_error(void);
void emovec_clear_last_error(void);

// Fills a batch from llama_batch_init with n tokens in one call (Java would need one call per seq_id slot):
// tokens[i] at position pos[i] of sequence seqs[i], with logits computed where want_logits[i] != 0.
void emovec_batch_fill(struct llama_batch * batch, int32_t n, const int32_t * tokens, const int32_t * pos,
                       const int32_t * seqs, const int8_t * want_logits);

// Whether one of emovec's llama.cpp patches (cmake/llama/patches/) is switched on in this process, read as the patch
// reads it: `variable` is its switch, EMOVEC_CUBLAS_F16_F32_OUTPUT (F16 products accumulate and write in F32; on
// unless =0 was in the environment, see emovec.cpp), EMOVEC_FATTN_KV_MAX_HALF_TILES or EMOVEC_CUBLAS_REUSE_INPUT
// (off unless =1). The patches act on CUDA builds only.
bool emovec_llama_switch(const char * variable);

// Converts n values of ggml type `type` at src (any type ggml can read: F32, F16, BF16, Q4_K, Q6_K, ...) to
// floats at dst; n must be a whole number of blocks. Returns 0, or -1 when ggml cannot dequantize the type.
// (What the logit lens reads the unembedding with, whatever a GGUF's quantization.)
int32_t emovec_dequantize(int32_t type, const void * src, float * dst, int64_t n);

// llama_memory_seq_cp(memory, seq_src, seq_dst, -1, -1) whose data copy, between two sequences' KV streams, is
// queued on the context's device stream now instead of made with blocking copies at the next llama_decode (see
// llama_internals.cpp); within one stream the sequences share the cells and nothing moves. Returns 0, -1 when a KV
// tensor lives where none of the context's backends reaches, -2 when the two are in different streams of several
// sequences each (see emovec_init_context), where a copy would replace the whole destination stream.
int32_t emovec_kv_copy(struct llama_context * ctx, int32_t seq_src, int32_t seq_dst);

// llama_init_from_model whose KV cache (not unified) puts each seqs_per_stream consecutive sequence ids in one stream
// of seqs_per_stream times the cells (emovec's patch cmake/llama/patches/llama-kv-seqs-per-stream.patch; 1: a stream
// per sequence, llama.cpp's own). Sequences of a stream share cells, and attention reads a stream once for all its
// queries. Each llama_decode must then give every stream it spans as many tokens, in stream order, or it fails.
struct llama_context * emovec_init_context(struct llama_model * model, struct llama_context_params params, int32_t seqs_per_stream);

// Hooks on llama.cpp's graph evaluation, attached to one context (no eval callback: emovec_hooks_attach wraps the
// context's backends, which then compute a graph in views cut after the tensors the hooks want, the hooks' work
// queued in between without stopping the host; a decode that needs nothing is llama.cpp's own). The hooks can
//  - reduce each decode's logits, where they live (a CUDA kernel on the GPU), to every row's top_k best
//    candidates, which emovec_sample then reads instead of the whole vocabulary (top_k 0: off);
//  - capture and steer the residual stream (below).
struct emovec_hooks;
struct emovec_hooks * emovec_hooks_new(int32_t top_k);
// Before the context is freed or after: the context's backends then compute as llama.cpp's own again.
void emovec_hooks_free(struct emovec_hooks * hooks);
// The context the hooks serve, once created (and before its first decode).
void emovec_hooks_attach(struct emovec_hooks * hooks, struct llama_context * ctx);
// Before each llama_decode: the batch's positions, sequences and output flags (as given to emovec_batch_fill),
// the context's n_ubatch, and seqs_per_stream: 0 where the context has one KV stream (kv_unified, or n_seq_max 1),
// else the sequences each of its streams holds (1: llama.cpp's stream per sequence; more: EMOVEC_KV_SEQS_PER_STREAM),
// which decide how llama.cpp splits the batch into ubatches. host_logits: the caller reads
// logits rows beyond the candidates (llama_get_logits_ith, or a row whose top_k exceeds the hooks' k); without
// it a decode that emovec_hooks_end reduces keeps its logits on the device (below). Forgets the previous
// decode's candidates and error.
void emovec_hooks_begin(struct emovec_hooks * hooks, int32_t n, const int32_t * pos, const int32_t * seqs,
                        const int8_t * want_logits, int32_t n_ubatch, int32_t seqs_per_stream, bool host_logits);
// After llama_decode and llama_synchronize. A decode with every output row in its last ubatch has its logits
// reduced here, from the tensor llama.cpp left on the device. Without host_logits llama.cpp did not copy them to
// the host at all (n_outputs x n_vocab floats: 131 MB at 256 rows of a 128k vocabulary) unless it built a new
// graph for the decode; llama_get_logits_ith then returns stale rows, and emovec_sample reads the candidates, or
// fetches a row from the device.
void emovec_hooks_end(struct emovec_hooks * hooks);
// After emovec_hooks_end: whether llama.cpp copied the last decode's logits to its host buffer.
bool emovec_hooks_logits_copied(const struct emovec_hooks * hooks);
// After llama_decode: "" or what went wrong in the hooks (then no capture or steering of that decode can be trusted).
const char * emovec_hooks_error(const struct emovec_hooks * hooks);
// Diagnostics: flags 1 = the hooks split llama.cpp's graph at the residual tensors asked for but do no work
// there, which isolates the cost of the split from the cost of capture and steering; 4 = llama.cpp copies the
// logits to the host after every decode (what that copy costs).
void emovec_hooks_diagnostics(struct emovec_hooks * hooks, int32_t flags);
// Logits rows reduced since emovec_hooks_begin.
int32_t emovec_hooks_rows(const struct emovec_hooks * hooks);
// Micro-batches (ubatches) llama.cpp splits the batch given to the last emovec_hooks_begin into; each reads
// every weight once, so fewer is faster.
int32_t emovec_hooks_ubatches(const struct emovec_hooks * hooks);

// ---- The residual stream: capture and steering ----
// Layer L is the residual stream after block L: llama.cpp's tensor "l_out-L", HF transformers' hidden_states[L+1].
// Positions are the positions llama_batch gives a sequence's tokens (0 for the first prompt token).
// Sets the model shape, how many sequence ids (0 .. n_slots-1) may capture, and the layers captured; clears
// every capture and steer. Returns -1 when a layer is out of range.
int32_t emovec_residual_init(struct emovec_hooks * hooks, int32_t n_embd, int32_t n_layer, int32_t n_slots,
                             int32_t n_captures, const int32_t * capture_layers);
// The steering vectors (n_vectors x n_embd floats), referred to by index in emovec_steer_add.
int32_t emovec_residual_vectors(struct emovec_hooks * hooks, int32_t n_vectors, const float * data);
// Sequence seq captures, at the given layers (among the capture layers), the rows at positions [from, to):
// their sum, the sum of their norms, their count, and with keep_rows each row. Replaces seq's previous capture
// and zeroes its sums; the sums grow over every decode until emovec_capture_clear. The hook asks llama.cpp only
// for layers that some sequence captures or steers now (each one asked for splits llama.cpp's graph).
int32_t emovec_capture_set(struct emovec_hooks * hooks, int32_t seq, int32_t from, int32_t to, int32_t keep_rows,
                           int32_t n_layers, const int32_t * layers);
void emovec_capture_clear(struct emovec_hooks * hooks, int32_t seq);
// The captured means (n_seqs x n_layers x n_embd), mean row norms and row counts (n_seqs x n_layers) of the
// given sequences at the given (captured) layers; one device copy for them all.
int32_t emovec_capture_read(struct emovec_hooks * hooks, int32_t n_seqs, const int32_t * seqs, int32_t n_layers,
                            const int32_t * layers, float * means, float * mean_norms, int64_t * counts);
// seq's kept rows ((to - from) x n_captures x n_embd) and whether each was seen ((to - from) x n_captures).
int32_t emovec_capture_rows(const struct emovec_hooks * hooks, int32_t seq, float * rows, uint8_t * have);
// Sequence seq adds coef * vectors[vector] to the residual after block `layer` at positions [from, to), before
// any capture at that layer reads it; every other row is left untouched. A sequence may have several steers at
// one layer on disjoint spans (e.g. both options of an A/B prompt); one overlapping an earlier one replaces it.
int32_t emovec_steer_add(struct emovec_hooks * hooks, int32_t seq, int32_t layer, int32_t vector, float coef,
                         int32_t from, int32_t to);
void emovec_steer_clear(struct emovec_hooks * hooks, int32_t seq);

// Samples one token for each of n output rows of the last llama_decode, on the host, with n_threads threads.
// Row i samples from llama_get_logits_ith(ctx, rows[i]) with temperature temps[i] (<= 0: greedy), top_ks[i]
// (<= 0: whole vocabulary) and top_ps[i] (>= 1: off). The random draw is a pure function of
// (seeds[i], steps[i]) -- the sequence's seed and how many tokens it has sampled -- so a sequence's tokens
// never depend on which other sequences share the batch. With hooks (may be NULL) that reduced exactly these
// rows, a row whose top_k fits reads the hooks' candidates, checked against the logits, instead of the whole
// row: the same tokens, far less memory traffic (where the logits stayed on the device the candidates are not
// checked, and a row they cannot serve is fetched from the device). Returns the number of rows sampled from candidates, or -1
// when a row has no logits.
int32_t emovec_sample(struct llama_context * ctx, const struct emovec_hooks * hooks, int32_t n, const int32_t * rows,
                      const float * temps, const int32_t * top_ks, const float * top_ps,
                      const uint64_t * seeds, const int32_t * steps, int32_t * out_tokens, int32_t n_threads);

#ifdef __cplusplus
}
#endif
