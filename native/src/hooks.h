// emovec_hooks: what emovec attaches to llama.cpp's graph evaluation (cb_eval), shared by the C++ sources.
#pragma once

#include "emovec.h"
#include "topk.h"

#include <map>
#include <string>
#include <vector>

struct ggml_tensor;
struct ggml_cgraph;
struct ggml_backend;
struct ggml_backend_event;
struct llama_context;

namespace emovec {

// One token of the batch llama_decode was given: its sequence, position, and whether it is an output row.
struct BatchToken {
    int32_t seq;
    int32_t pos;
    bool output;
};

// Token span [from, to) of positions within one sequence.
struct Span {
    int32_t from, to;
    bool has(int32_t pos) const { return pos >= from && pos < to; }
};

// A sequence's capture: sums (and optionally every row) of the residual at each captured layer over a span.
struct CaptureSpec {
    Span span;
    bool keep_rows = false;
    std::vector<uint8_t> wants; // per capture index: this sequence captures that layer
};

// Adds coef * vectors[vector] to the residual after block `layer` at the positions of span.
struct SteerSpec {
    int32_t layer, vector;
    float coef;
    Span span;
};

// The rows of one sequence a capture reads in one ubatch's tensor.
struct Group {
    int32_t seq;
    std::vector<int32_t> rows;  // tensor rows
    const CaptureSpec * spec;   // the sequence's capture (emovec_hooks::captures does not change during a decode)
};

// llama.cpp's split of a batch into ubatches (llama_batch_allocr::split_simple where seqs_per_stream is 0, else
// split_equal): batch indices, in the order of the rows of the ubatch's tensors.
std::vector<std::vector<int32_t>> plan_ubatches(const std::vector<BatchToken> & batch, int32_t n_ubatch, int32_t seqs_per_stream);

}  // namespace emovec

struct emovec_hooks {
    // --- logits reduction for sampling (hooks.cpp) ---
    int32_t k = 0;                       // candidates kept per logits row (0: the reduction is off)
    int32_t rows = 0;                    // logits rows reduced since the last emovec_hooks_begin
    std::vector<int32_t> counts;         // per row: candidates held, or -1 when the row could not be reduced
    std::vector<emovec::Candidate> cand; // rows x k, each row best first
    void * gpu = nullptr;                // device scratch of the top-k (CUDA builds)
    // where each batch index's candidates are: its row among the output rows in llama.cpp's ubatch order (-1: not
    // an output), from the planned split; each ubatch's logits are checked against the plan as they come
    std::vector<int32_t> out_row;
    std::vector<int32_t> ubatch_outputs;  // per planned ubatch: its output rows
    int32_t n_outputs = 0;                // output rows in the batch
    int32_t logits_ubatch = 0;            // the planned ubatch the next logits should come from
    bool split = false;                   // this decode's graphs are split at hooked tensors (llama_internals.cpp)
    bool logits_in_graph = false;         // ...and at each ubatch's logits, reduced there (else: by emovec_hooks_end)
    // After a decode llama.cpp copies every output row's logits to the host: n_outputs x n_vocab floats, 131 MB a
    // step at 256 rows, about a tenth of an 8B decode step on an H100. A decode whose logits are reduced after it and
    // whose rows the candidates serve (host_logits false in emovec_hooks_begin) skips that copy: llama_internals.cpp
    // hides the logits tensor of llama.cpp's reused graph from it, and the sampler reads the candidates, or a row
    // fetched from the device.
    bool host_logits = true;                  // this decode: the host needs llama.cpp's copy of the logits
    bool logits_copied = true;                // the last decode's logits reached llama.cpp's host buffer
    struct ggml_tensor * device_logits = nullptr; // the last decode's logits tensor when emovec_hooks_end reduced it
    void * held_graph = nullptr;              // llama.cpp's graph result whose logits tensor is held_logits
    struct ggml_tensor * held_logits = nullptr;

    // --- where we are in llama_decode (hooks.cpp) ---
    std::vector<emovec::BatchToken> batch;
    std::vector<std::vector<int32_t>> ubatches; // expected split of batch
    int32_t ubatch = -1;                        // index of the ubatch being evaluated
    int32_t last_layer = 1 << 30;               // last hooked layer seen in it
    bool positions_checked = false;
    std::string error;                          // first problem of this decode; "" when none
    int32_t diagnostics = 0;                    // see emovec_hooks_diagnostics
    // EMOVEC_HOOK_PROFILE=1: time spent in the residual hook, printed when the hooks are freed, and how the
    // backends computed: graphs computed whole (llama.cpp's own path) or in views, the host's time in graph
    // compute calls (kernel launches, or a CUDA graph's) and waiting for early logits
    int64_t prof_calls = 0;
    double prof_total = 0, prof_positions = 0, prof_eval = 0;
    int64_t prof_whole_graphs = 0, prof_split_graphs = 0;
    double prof_compute = 0, prof_logits_wait = 0;

    // --- llama.cpp's internals: its backends, whose graphs the hooks split, and their streams (llama_internals.cpp) ---
    struct llama_context * ctx = nullptr;                // from emovec_hooks_attach
    // per CUDA backend: an event recorded on its stream before our kernels, and one after them that it waits for
    std::map<struct ggml_backend *, std::pair<struct ggml_backend_event *, struct ggml_backend_event *>> events;

    // --- residual stream (residual.cpp) ---
    int32_t n_embd = 0, n_layer = 0;
    std::vector<int32_t> capture_layers;        // sorted; capture index = position in this list
    std::vector<int32_t> capture_index;         // per model layer: its capture index or -1
    std::vector<int32_t> capture_users;         // per model layer: sequences capturing it now (0: not asked for)
    std::map<int32_t, emovec::CaptureSpec> captures;       // by sequence
    std::map<int32_t, std::vector<emovec::SteerSpec>> steers; // by sequence
    std::vector<bool> steered_layer;            // per model layer: some sequence steers it
    std::vector<float> vectors;                 // steering vectors, n_embd each
    int32_t n_vectors = 0;
    int64_t vectors_version = 0;
    // Per sequence slot (seq id) x capture index: sum of rows, sum of row norms, row count (host-resident
    // layers; device-resident layers accumulate on the GPU and are added when read).
    int32_t n_slots = 0;
    std::vector<double> sums, norm_sums;        // allocated on first use by a host-resident layer
    bool host_used = false;
    std::vector<int64_t> row_counts;
    std::map<int32_t, std::vector<float>> kept_rows;   // seq -> (span length x captures x n_embd)
    std::map<int32_t, std::vector<uint8_t>> kept_have; // seq -> (span length x captures)
    void * residual_gpu = nullptr;
    // capture groups of the current ubatch (the same at every layer but the last, which keeps output rows only),
    // built once per ubatch and uploaded to the device once: plan_id names them
    int32_t groups_ubatch = -1;
    int64_t groups_rows = -1;
    std::vector<emovec::Group> groups;
    int64_t plan_id = 0;          // > 0: the cached groups' plan
    int64_t filtered_plan_id = 0; // plans of groups filtered for one layer get ids < 0
};

namespace emovec {
// Capture and steering at the residual tensor t of model layer `layer` (rows: batch indices of its rows), just
// computed by llama.cpp's backend (queued, on a GPU).
void residual_eval(emovec_hooks * h, ggml_tensor * t, int32_t layer, const std::vector<int32_t> & rows, struct ggml_backend * backend);

// A backend's graph_compute, and the hooks' version of it: the graph computed in views cut after each tensor the
// hooks read or change, their work queued in between (hooks.cpp).
using GraphCompute = enum ggml_status (*)(struct ggml_backend *, struct ggml_cgraph *);
enum ggml_status split_compute(emovec_hooks * h, struct ggml_backend * backend, struct ggml_cgraph * graph, GraphCompute compute);
// Computes nodes [i0, i1) of graph (a view of it) with a backend's own graph_compute.
enum ggml_status llama_compute_view(struct ggml_backend * backend, struct ggml_cgraph * graph, int i0, int i1, GraphCompute compute);
// Makes every backend of the attached context compute through split_compute while h->split is set.
void llama_wrap_backends(emovec_hooks * h);
// Orders our GPU work after what llama.cpp's CUDA backend has queued: records *ready (a cudaEvent_t) on its stream
// for our stream to wait for; our kernels then record *done, and llama_stream_wait makes the backend wait for it
// before its next work. False where the backend is not CUDA (then synchronise it and our stream instead).
bool llama_stream_events(emovec_hooks * h, struct ggml_backend * backend, void ** ready, void ** done);
void llama_stream_wait(emovec_hooks * h, struct ggml_backend * backend);
// Before a CUDA backend computes (its ggml_backend_cuda_context, and its name): drops the executable CUDA graphs
// ggml-cuda would otherwise update in place (cuda_graphs.cu says why). CUDA builds only.
void cuda_graphs_drop_stale(void * backend_context, const char * backend_name);
// The hooks are going away: their backends compute as llama.cpp's own again; their events are freed.
void llama_hooks_free(emovec_hooks * h);
// After a decode: the logits tensor of its last ubatch (on its device), or nullptr, and whether llama.cpp copied
// the logits to its host buffer.
ggml_tensor * llama_decoded_logits(emovec_hooks * h, bool * copied);
// Before a decode: hide the logits tensor from llama.cpp's output copy (hide), or show it again. Takes effect only
// when llama.cpp reuses its last graph; a graph it builds anew shows its logits, and is copied as usual.
void llama_hide_logits(emovec_hooks * h, bool hide);
// Row r of a decode's logits tensor t, as floats on the host: t's own memory on the CPU, else copied into buf.
const float * logits_row(const ggml_tensor * t, int32_t r, std::vector<float> & buf);
}

#ifdef EMOVEC_CUDA
// Reduces n_rows device-resident rows of n_vocab logits to each row's candidates with key >= the k-th largest
// (at most cap of them): *counts[n_rows] (> cap: too many ties to hold) and *ids / *vals[n_rows * cap] point
// into pinned host memory valid until the next call. Returns 0, or a CUDA error code.
int emovec_cuda_topk(void ** scratch, const float * d_logits, int64_t n_vocab, int64_t n_rows, int32_t k, int32_t cap,
                     const int32_t ** counts, const int32_t ** ids, const float ** vals);
void emovec_cuda_free(void * scratch);

// Residual kernels (residual_cuda.cu). All return "" or a one-line CUDA error.
struct ResidualCudaPlan {
    // steering: per row of x, the vector index (-1: none) and coefficient, uploaded through the staging slot of
    // `layer` (each steered layer of a ubatch has its own: its upload may still wait for the GPU to get there)
    const int32_t * row_vector;
    const float * row_coef;
    int32_t layer, n_layer;
    // capture: each capturing sequence's rows here; flattened and uploaded only when plan_id differs from the
    // last plan uploaded
    int64_t plan_id;
    const std::vector<emovec::Group> * groups;
    // accumulator row of sequence seq = seq * n_captures + capture
    int32_t capture, n_captures;
};
// Starts after the CUDA event `ready` (nullptr: at once); ends with the CUDA event `done` recorded on our stream, or
// (done nullptr) with our stream synchronised.
std::string emovec_cuda_residual(void ** scratch, float * d_x, int64_t n_embd, int64_t n_rows, const ResidualCudaPlan & plan,
                                 bool steer, const float * vectors, int32_t n_vectors, int64_t vectors_version,
                                 int64_t n_acc_rows, void * ready, void * done);
// Reads n device accumulator rows from `first`: *sums (n x n_embd) and *norm_sums (n) point into pinned memory
// valid until the next read, or are nullptr when nothing was accumulated on the device.
std::string emovec_cuda_residual_read(void * scratch, int64_t first, int64_t n, int64_t n_embd, const float ** sums, const float ** norm_sums);
std::string emovec_cuda_residual_clear(void * scratch, int64_t first, int64_t n, int64_t n_embd);
std::string emovec_cuda_to_host(void * dst, const void * d_src, size_t bytes);
void emovec_cuda_residual_free(void * scratch);
#endif
