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

// Hooks on llama.cpp's graph evaluation: give emovec_hooks_callback() and the hooks object to
// llama_context_params.cb_eval and cb_eval_user_data. For now the hooks reduce each ubatch's logits, where they
// live (a CUDA kernel on the GPU), to every row's top_k best candidates, which emovec_sample then reads
// instead of the whole vocabulary.
struct emovec_hooks;
struct emovec_hooks * emovec_hooks_new(int32_t top_k);
void emovec_hooks_free(struct emovec_hooks * hooks);
ggml_backend_sched_eval_callback emovec_hooks_callback(void);
// Forget what the previous llama_decode collected; call before each llama_decode.
void emovec_hooks_reset(struct emovec_hooks * hooks);
// Logits rows reduced since the last reset.
int32_t emovec_hooks_rows(const struct emovec_hooks * hooks);

// Samples one token for each of n output rows of the last llama_decode, on the host, with n_threads threads.
// Row i samples from llama_get_logits_ith(ctx, rows[i]) with temperature temps[i] (<= 0: greedy), top_ks[i]
// (<= 0: whole vocabulary) and top_ps[i] (>= 1: off). The random draw is a pure function of
// (seeds[i], steps[i]) -- the sequence's seed and how many tokens it has sampled -- so a sequence's tokens
// never depend on which other sequences share the batch. With hooks (may be NULL) that reduced exactly these
// rows, a row whose top_k fits reads the hooks' candidates, checked against the logits, instead of the whole
// row: the same tokens, far less memory traffic. Returns the number of rows sampled from candidates, or -1
// when a row has no logits.
int32_t emovec_sample(struct llama_context * ctx, const struct emovec_hooks * hooks, int32_t n, const int32_t * rows,
                      const float * temps, const int32_t * top_ks, const float * top_ps,
                      const uint64_t * seeds, const int32_t * steps, int32_t * out_tokens, int32_t n_threads);

#ifdef __cplusplus
}
#endif
