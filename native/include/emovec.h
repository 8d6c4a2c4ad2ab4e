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

// Samples one token for each of n output rows of the last llama_decode, on the host, with n_threads threads.
// Row i reads llama_get_logits_ith(ctx, rows[i]) and samples with temperature temps[i] (<= 0: greedy),
// top_ks[i] (<= 0: whole vocabulary) and top_ps[i] (>= 1: off). The random draw is a pure function of
// (seeds[i], steps[i]) -- the sequence's seed and how many tokens it has sampled -- so a sequence's tokens
// never depend on which other sequences share the batch. Returns 0, or -1 when a row has no logits.
int32_t emovec_sample(struct llama_context * ctx, int32_t n, const int32_t * rows,
                      const float * temps, const int32_t * top_ks, const float * top_ps,
                      const uint64_t * seeds, const int32_t * steps, int32_t * out_tokens, int32_t n_threads);

#ifdef __cplusplus
}
#endif
