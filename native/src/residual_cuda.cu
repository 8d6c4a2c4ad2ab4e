// Residual-stream kernels for the hooks (see residual.cpp): steering adds coef * vector to chosen rows in
// place; capture sums chosen rows, and their norms, into per-(sequence, layer) accumulators that stay on the
// device until read: chunks of a few rows are summed in parallel, then each sequence adds its chunks in order
// (deterministic, no atomics).
#include "hooks.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace {

constexpr int kThreads = 256;
constexpr int kChunkRows = 8; // rows per capture chunk: enough blocks to fill the GPU when few sequences hold many rows

__global__ void steer_kernel(float * x, int64_t n_embd, const int32_t * row_vector, const float * row_coef, const float * vectors) {
    const int64_t r = blockIdx.x;
    const int32_t v = row_vector[r];
    if (v < 0) return;
    const float c = row_coef[r];
    for (int64_t j = blockIdx.y * kThreads + threadIdx.x; j < n_embd; j += (int64_t) gridDim.y * kThreads) {
        x[r * n_embd + j] += c * vectors[(int64_t) v * n_embd + j];
    }
}

__device__ inline void add4(float4 & a, const float4 b) { a.x += b.x; a.y += b.y; a.z += b.z; a.w += b.w; }

// Capture, pass 0: the norm of each listed row, one warp a row.
__global__ void row_norm_kernel(const float4 * x, int64_t n4, const int32_t * rows, int32_t n_rows, float * row_norm) {
    const int32_t i = blockIdx.x * (kThreads / 32) + threadIdx.x / 32;
    if (i >= n_rows) return;
    const float4 * row = x + (int64_t) rows[i] * n4;
    float sq = 0.0f;
    for (int64_t j = threadIdx.x % 32; j < n4; j += 32) {
        const float4 v = row[j];
        sq += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
    for (int o = 16; o > 0; o /= 2) sq += __shfl_down_sync(0xffffffffu, sq, o);
    if (threadIdx.x % 32 == 0) row_norm[i] = sqrtf(sq);
}

// Capture, pass 1: block (c, y) sums columns y*kThreads*4.. of chunk c's rows (at most kChunkRows, loads all in
// flight at once) into partial[c]; block (c, 0) also sums the chunk's row norms into chunk_norm[c]. kDirect:
// every sequence is one chunk (a decode step: one row each), so the block adds straight to the sequence's
// accumulators (partial = acc, chunk_norm = norms) and pass 2 is not needed.
template <bool kDirect>
__global__ void partial_kernel(const float4 * x, int64_t n4, const int32_t * chunk_begin, const int32_t * rows, const float * row_norm,
                               float4 * partial, float * chunk_norm, const int32_t * seq, int32_t capture, int32_t n_captures) {
    const int32_t c = blockIdx.x, first = chunk_begin[c], n = chunk_begin[c + 1] - first;
    const int64_t out = kDirect ? (int64_t) seq[c] * n_captures + capture : c; // row of partial (or acc) written
    const int64_t j = (int64_t) blockIdx.y * kThreads + threadIdx.x;
    if (j < n4) {
        float4 s = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
        for (int r = 0; r < kChunkRows; ++r) {
            if (r < n) add4(s, x[(int64_t) rows[first + r] * n4 + j]);
        }
        if (kDirect) add4(partial[out * n4 + j], s);
        else partial[out * n4 + j] = s;
    }
    if (blockIdx.y == 0 && threadIdx.x == 0) {
        float total = 0.0f;
        for (int r = 0; r < n; ++r) total += row_norm[first + r];
        if (kDirect) chunk_norm[out] += total;
        else chunk_norm[out] = total;
    }
}

// Capture, pass 2: each sequence adds its chunks, in order, to its accumulators (deterministic, no atomics).
__global__ void combine_kernel(int64_t n4, const int32_t * seq, int32_t capture, int32_t n_captures, const int32_t * slot_chunks,
                               const float4 * partial, const float * chunk_norm, float4 * acc, float * norms) {
    const int32_t s = blockIdx.x;
    const int64_t a = (int64_t) seq[s] * n_captures + capture; // the sequence's accumulator row at this layer
    const int64_t j = (int64_t) blockIdx.y * kThreads + threadIdx.x;
    if (j < n4) {
        float4 sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        for (int32_t c = slot_chunks[s]; c < slot_chunks[s + 1]; ++c) add4(sum, partial[(int64_t) c * n4 + j]);
        add4(acc[a * n4 + j], sum);
    }
    if (blockIdx.y == 0 && threadIdx.x == 0) {
        float total = 0.0f;
        for (int32_t c = slot_chunks[s]; c < slot_chunks[s + 1]; ++c) total += chunk_norm[c];
        norms[a] += total;
    }
}

struct Scratch {
    cudaStream_t stream = nullptr;
    float * vectors = nullptr;
    int64_t vectors_version = -1;
    float * acc = nullptr;   // n_acc x n_embd sums, then n_acc norm sums
    int64_t n_acc = 0, n_embd = 0;
    // Capture plans (a new one each ubatch, and where a ubatch's rows change at the last layer or sequences capture
    // different layers) rotate through slots, each free again once the GPU has passed the event recorded when
    // the next plan took over: the host never waits for the GPU to upload one.
    struct PlanSlot {
        void * device = nullptr;    // the plan on the device
        size_t device_size = 0;
        int32_t * host = nullptr;   // pinned staging for it
        size_t host_size = 0;
        cudaEvent_t used = nullptr; // recorded after the last kernel that reads it
        bool pending = false;
    };
    static constexpr int kPlanSlots = 4;
    PlanSlot plans[kPlanSlots];
    int plan_slot = -1;             // the slot of the current plan
    int64_t plan_id = INT64_MIN;    // the capture plan on the device (none yet)
    int32_t n_chunks = 0, n_list = 0; // of the capture plan: chunks, rows listed
    void * steer_plan = nullptr;    // steering: per layer a slot of steer_rows row_vector, then row_coef
    int32_t * steer_host = nullptr; // pinned staging, the same slots
    int64_t steer_rows = 0, steer_layers = 0;
    float * partial = nullptr;      // capture chunks' partial sums, their norm sums, the listed rows' norms
    size_t partial_size = 0;
    float * read_host = nullptr;    // pinned: accumulators read back (sums, then norm sums)
    size_t read_host_size = 0;
};

std::string check(cudaError_t e, const char * what) {
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e == cudaSuccess) return "";
    cudaGetLastError(); // clear it, so llama.cpp's next check does not blame its own kernel
    return std::string(what) + ": " + cudaGetErrorString(e);
}

#define TRY(call)                                      \
    do {                                               \
        std::string e_ = check((call), #call);         \
        if (!e_.empty()) return e_;                    \
    } while (0)

// Makes *buf hold at least need bytes (device memory, or pinned host memory), with room to spare so that
// slowly growing plans do not reallocate every call.
std::string grow(void ** buf, size_t * size, size_t need, bool pinned_host = false) {
    if (*size >= need) return "";
    if (*buf != nullptr) pinned_host ? cudaFreeHost(*buf) : cudaFree(*buf);
    *buf = nullptr;
    *size = 0;
    TRY(pinned_host ? cudaMallocHost(buf, need * 2) : cudaMalloc(buf, need * 2));
    *size = need * 2;
    return "";
}

}  // namespace

std::string emovec_cuda_residual(void ** scratch, float * d_x, int64_t n_embd, int64_t n_rows, const ResidualCudaPlan & plan,
                                 bool steer, const float * vectors, int32_t n_vectors, int64_t vectors_version, int64_t n_acc,
                                 void * ready, void * done) {
    if (!plan.groups->empty() && n_embd % 4 != 0) {
        return "the capture kernels read rows as float4: a model width of " + std::to_string(n_embd) + " is not a multiple of 4";
    }
    auto * s = static_cast<Scratch *>(*scratch);
    if (s == nullptr) {
        s = new Scratch();
        *scratch = s;
        TRY(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    }
    if (s->acc == nullptr && n_acc > 0) {
        TRY(cudaMalloc(&s->acc, (size_t) n_acc * (n_embd + 1) * sizeof(float)));
        TRY(cudaMemsetAsync(s->acc, 0, (size_t) n_acc * (n_embd + 1) * sizeof(float), s->stream));
        s->n_acc = n_acc;
        s->n_embd = n_embd;
    }
    if (steer && s->vectors_version != vectors_version) {
        if (s->vectors != nullptr) cudaFree(s->vectors);
        s->vectors = nullptr;
        TRY(cudaMalloc(&s->vectors, (size_t) std::max(1, n_vectors) * n_embd * sizeof(float)));
        TRY(cudaMemcpyAsync(s->vectors, vectors, (size_t) n_vectors * n_embd * sizeof(float), cudaMemcpyHostToDevice, s->stream));
        s->vectors_version = vectors_version;
    }
    // Uploads go through pinned staging (a copy from pageable memory would wait for our stream, and with it for
    // llama.cpp's). The host may run a whole ubatch ahead of the GPU, but never two: llama.cpp's scheduler waits
    // for a graph's last computation before it copies the next ubatch's inputs.
    const unsigned chunks = (unsigned) ((n_embd + kThreads - 1) / kThreads);
    int32_t * rv = nullptr;
    float * rc = nullptr;
    if (steer) {
        if (s->steer_rows < n_rows || s->steer_layers < plan.n_layer) {
            TRY(cudaStreamSynchronize(s->stream)); // nothing may still read the old slots
            if (s->steer_plan != nullptr) cudaFree(s->steer_plan);
            if (s->steer_host != nullptr) cudaFreeHost(s->steer_host);
            s->steer_plan = nullptr;
            s->steer_host = nullptr;
            s->steer_rows = s->steer_layers = 0;
            const int64_t rows = std::max<int64_t>(n_rows, 512);
            TRY(cudaMalloc(&s->steer_plan, (size_t) plan.n_layer * rows * 2 * sizeof(int32_t)));
            TRY(cudaMallocHost(&s->steer_host, (size_t) plan.n_layer * rows * 2 * sizeof(int32_t)));
            s->steer_rows = rows;
            s->steer_layers = plan.n_layer;
        }
        const size_t slot = (size_t) plan.layer * s->steer_rows * 2;
        int32_t * staged = s->steer_host + slot;
        std::memcpy(staged, plan.row_vector, n_rows * sizeof(int32_t));
        std::memcpy(staged + n_rows, plan.row_coef, n_rows * sizeof(float));
        rv = static_cast<int32_t *>(s->steer_plan) + slot;
        rc = reinterpret_cast<float *>(rv + n_rows);
        TRY(cudaMemcpyAsync(rv, staged, n_rows * 2 * sizeof(int32_t), cudaMemcpyHostToDevice, s->stream));
    }
    const std::vector<emovec::Group> & groups = *plan.groups;
    const int32_t n_seqs = (int32_t) groups.size();
    if (n_seqs > 0 && s->plan_id != plan.plan_id) {
        // a new capture plan: the slot after the current one, once the GPU is past its last use (long since, but
        // for a host that runs more than kPlanSlots plans ahead)
        if (s->plan_slot >= 0) {
            Scratch::PlanSlot & cur = s->plans[s->plan_slot];
            if (cur.used == nullptr) TRY(cudaEventCreateWithFlags(&cur.used, cudaEventDisableTiming));
            TRY(cudaEventRecord(cur.used, s->stream));
            cur.pending = true;
        }
        s->plan_slot = (s->plan_slot + 1) % Scratch::kPlanSlots;
        Scratch::PlanSlot & slot = s->plans[s->plan_slot];
        if (slot.pending) TRY(cudaEventSynchronize(slot.used));
        slot.pending = false;
        // packed: cap_seq[n_seqs], seq_chunks[n_seqs + 1], chunk_begin[n_chunks + 1], row_list, where chunks
        // cut each sequence's rows into runs of at most kChunkRows
        std::vector<int32_t> seq_chunks{0}, chunk_begin, row_list;
        for (const emovec::Group & g : groups) {
            for (size_t r = 0; r < g.rows.size(); r += kChunkRows) chunk_begin.push_back((int32_t) (row_list.size() + r));
            row_list.insert(row_list.end(), g.rows.begin(), g.rows.end());
            seq_chunks.push_back((int32_t) chunk_begin.size());
        }
        s->n_chunks = (int32_t) chunk_begin.size();
        s->n_list = (int32_t) row_list.size();
        chunk_begin.push_back((int32_t) row_list.size());
        const size_t words = (size_t) n_seqs + seq_chunks.size() + chunk_begin.size() + row_list.size();
        std::string e = grow(&slot.device, &slot.device_size, words * sizeof(int32_t));
        if (e.empty()) e = grow(reinterpret_cast<void **>(&slot.host), &slot.host_size, words * sizeof(int32_t), true);
        if (!e.empty()) return e;
        int32_t * q = slot.host;
        for (const emovec::Group & g : groups) *q++ = g.seq;
        q = std::copy(seq_chunks.begin(), seq_chunks.end(), q);
        q = std::copy(chunk_begin.begin(), chunk_begin.end(), q);
        std::copy(row_list.begin(), row_list.end(), q);
        TRY(cudaMemcpyAsync(slot.device, slot.host, words * sizeof(int32_t), cudaMemcpyHostToDevice, s->stream));
        s->plan_id = plan.plan_id;
    }
    // the tensor is read and written only once llama.cpp has computed it
    if (ready != nullptr) TRY(cudaStreamWaitEvent(s->stream, static_cast<cudaEvent_t>(ready), 0));
    if (steer) {
        steer_kernel<<<dim3((unsigned) n_rows, std::min(chunks, 4u)), kThreads, 0, s->stream>>>(d_x, n_embd, rv, rc, s->vectors);
        TRY(cudaPeekAtLastError());
    }
    if (n_seqs > 0) {
        const int32_t n_chunks = s->n_chunks, n_list = s->n_list;
        const auto * d_seq = static_cast<const int32_t *>(s->plans[s->plan_slot].device);
        const int32_t * d_seq_chunks = d_seq + n_seqs;
        const int32_t * d_chunk_begin = d_seq_chunks + n_seqs + 1;
        const int32_t * list = d_chunk_begin + n_chunks + 1;
        float * norms = s->acc + s->n_acc * n_embd;
        // scratch: the chunks' partial sums (float4-aligned at the start), their norm sums, each listed row's norm
        const std::string e = grow(reinterpret_cast<void **>(&s->partial), &s->partial_size,
                                   ((size_t) n_chunks * (n_embd + 1) + n_list) * sizeof(float));
        if (!e.empty()) return e;
        float * chunk_norm = s->partial + (size_t) n_chunks * n_embd;
        float * row_norm = chunk_norm + n_chunks;
        const int64_t n4 = n_embd / 4;
        const auto * x4 = reinterpret_cast<const float4 *>(d_x);
        const unsigned col_blocks = (unsigned) ((n4 + kThreads - 1) / kThreads);
        row_norm_kernel<<<(unsigned) ((n_list + kThreads / 32 - 1) / (kThreads / 32)), kThreads, 0, s->stream>>>(x4, n4, list, n_list, row_norm);
        TRY(cudaPeekAtLastError());
        if (n_chunks == n_seqs) { // one chunk per sequence: one pass
            partial_kernel<true><<<dim3((unsigned) n_chunks, col_blocks), kThreads, 0, s->stream>>>(
                x4, n4, d_chunk_begin, list, row_norm, reinterpret_cast<float4 *>(s->acc), norms, d_seq, plan.capture, plan.n_captures);
            TRY(cudaPeekAtLastError());
        } else {
            auto * partial4 = reinterpret_cast<float4 *>(s->partial);
            partial_kernel<false><<<dim3((unsigned) n_chunks, col_blocks), kThreads, 0, s->stream>>>(
                x4, n4, d_chunk_begin, list, row_norm, partial4, chunk_norm, d_seq, plan.capture, plan.n_captures);
            TRY(cudaPeekAtLastError());
            combine_kernel<<<dim3((unsigned) n_seqs, col_blocks), kThreads, 0, s->stream>>>(
                n4, d_seq, plan.capture, plan.n_captures, d_seq_chunks, partial4, chunk_norm, reinterpret_cast<float4 *>(s->acc), norms);
            TRY(cudaPeekAtLastError());
        }
    }
    // llama.cpp's next node may overwrite or read this tensor as soon as the hook returns: its stream waits for
    // `done` (see llama_internals.cpp), or we wait here
    TRY(done != nullptr ? cudaEventRecord(static_cast<cudaEvent_t>(done), s->stream) : cudaStreamSynchronize(s->stream));
    return "";
}

std::string emovec_cuda_residual_read(void * scratch, int64_t first, int64_t n, int64_t n_embd, const float ** sums, const float ** norm_sums) {
    auto * s = static_cast<Scratch *>(scratch);
    *sums = *norm_sums = nullptr;
    if (s == nullptr || s->acc == nullptr) return "";
    // through pinned memory: a full read (every sequence at every layer) is 100+ MB, several times faster so
    const std::string e = grow(reinterpret_cast<void **>(&s->read_host), &s->read_host_size, (size_t) n * (n_embd + 1) * sizeof(float), true);
    if (!e.empty()) return e;
    TRY(cudaMemcpyAsync(s->read_host, s->acc + first * n_embd, (size_t) n * n_embd * sizeof(float), cudaMemcpyDeviceToHost, s->stream));
    TRY(cudaMemcpyAsync(s->read_host + n * n_embd, s->acc + s->n_acc * n_embd + first, n * sizeof(float), cudaMemcpyDeviceToHost, s->stream));
    TRY(cudaStreamSynchronize(s->stream));
    *sums = s->read_host;
    *norm_sums = s->read_host + n * n_embd;
    return "";
}

std::string emovec_cuda_residual_clear(void * scratch, int64_t first, int64_t n, int64_t n_embd) {
    auto * s = static_cast<Scratch *>(scratch);
    if (s == nullptr || s->acc == nullptr) return "";
    // on our own stream: the next hook call on it runs after, and nothing else reads the accumulators
    TRY(cudaMemsetAsync(s->acc + first * n_embd, 0, (size_t) n * n_embd * sizeof(float), s->stream));
    TRY(cudaMemsetAsync(s->acc + s->n_acc * n_embd + first, 0, n * sizeof(float), s->stream));
    return "";
}

std::string emovec_cuda_to_host(void * dst, const void * d_src, size_t bytes) {
    TRY(cudaMemcpy(dst, d_src, bytes, cudaMemcpyDeviceToHost));
    return "";
}

void emovec_cuda_residual_free(void * scratch) {
    auto * s = static_cast<Scratch *>(scratch);
    if (s == nullptr) return;
    if (s->vectors != nullptr) cudaFree(s->vectors);
    if (s->acc != nullptr) cudaFree(s->acc);
    for (Scratch::PlanSlot & p : s->plans) {
        if (p.device != nullptr) cudaFree(p.device);
        if (p.host != nullptr) cudaFreeHost(p.host);
        if (p.used != nullptr) cudaEventDestroy(p.used);
    }
    if (s->partial != nullptr) cudaFree(s->partial);
    if (s->read_host != nullptr) cudaFreeHost(s->read_host);
    if (s->steer_plan != nullptr) cudaFree(s->steer_plan);
    if (s->steer_host != nullptr) cudaFreeHost(s->steer_host);
    if (s->stream != nullptr) cudaStreamDestroy(s->stream);
    delete s;
}
