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
constexpr int kChunkRows = 4; // rows per capture chunk: enough blocks to fill the GPU when few sequences hold many rows

__global__ void steer_kernel(float * x, int64_t n_embd, const int32_t * row_vector, const float * row_coef, const float * vectors) {
    const int64_t r = blockIdx.x;
    const int32_t v = row_vector[r];
    if (v < 0) return;
    const float c = row_coef[r];
    for (int64_t j = blockIdx.y * kThreads + threadIdx.x; j < n_embd; j += (int64_t) gridDim.y * kThreads) {
        x[r * n_embd + j] += c * vectors[(int64_t) v * n_embd + j];
    }
}

// Capture, pass 1: each block takes one chunk of at most kChunkRows rows of one sequence and writes the
// chunk's column sums to partial[chunk] and the sum of its rows' norms to chunk_norm[chunk]. kDirect: every
// sequence is one chunk (a decode step: one row each), so the block adds them straight to the sequence's
// accumulators (partial = acc, chunk_norm = norms) and pass 2 is not needed.
template <bool kDirect>
__global__ void partial_kernel(const float * x, int64_t n_embd, const int32_t * chunk_begin, const int32_t * rows,
                               float * partial, float * chunk_norm, const int32_t * seq, int32_t capture, int32_t n_captures) {
    __shared__ float part[kChunkRows][kThreads];
    const int32_t c = blockIdx.x, first = chunk_begin[c], n = chunk_begin[c + 1] - first;
    const int64_t out = kDirect ? (int64_t) seq[c] * n_captures + capture : c; // row of partial (or acc) written
    float sq[kChunkRows] = {};
    for (int64_t j = threadIdx.x; j < n_embd; j += kThreads) {
        float s = 0.0f;
        for (int r = 0; r < n; ++r) {
            const float v = x[(int64_t) rows[first + r] * n_embd + j];
            s += v;
            sq[r] += v * v;
        }
        if (kDirect) partial[out * n_embd + j] += s;
        else partial[out * n_embd + j] = s;
    }
    for (int r = 0; r < kChunkRows; ++r) part[r][threadIdx.x] = sq[r];
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w /= 2) {
        if ((int) threadIdx.x < w) {
            for (int r = 0; r < kChunkRows; ++r) part[r][threadIdx.x] += part[r][threadIdx.x + w];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        float total = 0.0f;
        for (int r = 0; r < n; ++r) total += sqrtf(part[r][0]);
        if (kDirect) chunk_norm[out] += total;
        else chunk_norm[out] = total;
    }
}

// Capture, pass 2: each sequence adds its chunks, in order, to its accumulators (deterministic, no atomics).
__global__ void combine_kernel(int64_t n_embd, const int32_t * seq, int32_t capture, int32_t n_captures, const int32_t * slot_chunks,
                               const float * partial, const float * chunk_norm, float * acc, float * norms) {
    const int32_t s = blockIdx.x;
    const int64_t a = (int64_t) seq[s] * n_captures + capture; // the sequence's accumulator row at this layer
    const int64_t j = (int64_t) blockIdx.y * kThreads + threadIdx.x;
    if (j < n_embd) {
        float sum = 0.0f;
        for (int32_t c = slot_chunks[s]; c < slot_chunks[s + 1]; ++c) sum += partial[(int64_t) c * n_embd + j];
        acc[a * n_embd + j] += sum;
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
    void * plan = nullptr;          // device copy of the capture plan
    size_t plan_size = 0;
    int32_t * plan_host = nullptr;  // pinned staging for it
    size_t plan_host_size = 0;
    int64_t plan_id = INT64_MIN;    // the capture plan on the device (none yet)
    int32_t n_chunks = 0;
    void * steer_plan = nullptr;    // steering: per layer a slot of steer_rows row_vector, then row_coef
    int32_t * steer_host = nullptr; // pinned staging, the same slots
    int64_t steer_rows = 0, steer_layers = 0;
    float * partial = nullptr;      // capture chunks' partial sums, then their norm sums
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
        // a new capture plan (once a ubatch, or per layer where sequences capture different layers): the staging
        // and device copies of the last one must be free (at once, but for those per-layer plans)
        TRY(cudaStreamSynchronize(s->stream));
        // packed: cap_seq[n_seqs], seq_chunks[n_seqs + 1], chunk_begin[n_chunks + 1], row_list, where chunks
        // cut each sequence's rows into runs of at most kChunkRows
        std::vector<int32_t> seq_chunks{0}, chunk_begin, row_list;
        for (const emovec::Group & g : groups) {
            for (size_t r = 0; r < g.rows.size(); r += kChunkRows) chunk_begin.push_back((int32_t) (row_list.size() + r));
            row_list.insert(row_list.end(), g.rows.begin(), g.rows.end());
            seq_chunks.push_back((int32_t) chunk_begin.size());
        }
        s->n_chunks = (int32_t) chunk_begin.size();
        chunk_begin.push_back((int32_t) row_list.size());
        const size_t words = (size_t) n_seqs + seq_chunks.size() + chunk_begin.size() + row_list.size();
        std::string e = grow(&s->plan, &s->plan_size, words * sizeof(int32_t));
        if (e.empty()) e = grow(reinterpret_cast<void **>(&s->plan_host), &s->plan_host_size, words * sizeof(int32_t), true);
        if (!e.empty()) return e;
        int32_t * q = s->plan_host;
        for (const emovec::Group & g : groups) *q++ = g.seq;
        q = std::copy(seq_chunks.begin(), seq_chunks.end(), q);
        q = std::copy(chunk_begin.begin(), chunk_begin.end(), q);
        std::copy(row_list.begin(), row_list.end(), q);
        TRY(cudaMemcpyAsync(s->plan, s->plan_host, words * sizeof(int32_t), cudaMemcpyHostToDevice, s->stream));
        s->plan_id = plan.plan_id;
    }
    // the tensor is read and written only once llama.cpp has computed it
    if (ready != nullptr) TRY(cudaStreamWaitEvent(s->stream, static_cast<cudaEvent_t>(ready), 0));
    if (steer) {
        steer_kernel<<<dim3((unsigned) n_rows, std::min(chunks, 4u)), kThreads, 0, s->stream>>>(d_x, n_embd, rv, rc, s->vectors);
        TRY(cudaPeekAtLastError());
    }
    if (n_seqs > 0) {
        const int32_t n_chunks = s->n_chunks;
        const auto * d_seq = static_cast<const int32_t *>(s->plan);
        const int32_t * d_seq_chunks = d_seq + n_seqs;
        const int32_t * d_chunk_begin = d_seq_chunks + n_seqs + 1;
        const int32_t * list = d_chunk_begin + n_chunks + 1;
        float * norms = s->acc + s->n_acc * n_embd;
        if (n_chunks == n_seqs) { // one chunk per sequence: one pass
            partial_kernel<true><<<(unsigned) n_chunks, kThreads, 0, s->stream>>>(d_x, n_embd, d_chunk_begin, list, s->acc, norms, d_seq,
                                                                                  plan.capture, plan.n_captures);
            TRY(cudaPeekAtLastError());
        } else {
            const std::string e = grow(reinterpret_cast<void **>(&s->partial), &s->partial_size, (size_t) n_chunks * (n_embd + 1) * sizeof(float));
            if (!e.empty()) return e;
            float * chunk_norm = s->partial + (size_t) n_chunks * n_embd;
            partial_kernel<false><<<(unsigned) n_chunks, kThreads, 0, s->stream>>>(d_x, n_embd, d_chunk_begin, list, s->partial, chunk_norm,
                                                                                   d_seq, plan.capture, plan.n_captures);
            TRY(cudaPeekAtLastError());
            combine_kernel<<<dim3((unsigned) n_seqs, chunks), kThreads, 0, s->stream>>>(n_embd, d_seq, plan.capture, plan.n_captures,
                                                                                          d_seq_chunks, s->partial, chunk_norm, s->acc, norms);
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
    if (s->plan != nullptr) cudaFree(s->plan);
    if (s->plan_host != nullptr) cudaFreeHost(s->plan_host);
    if (s->partial != nullptr) cudaFree(s->partial);
    if (s->read_host != nullptr) cudaFreeHost(s->read_host);
    if (s->steer_plan != nullptr) cudaFree(s->steer_plan);
    if (s->steer_host != nullptr) cudaFreeHost(s->steer_host);
    if (s->stream != nullptr) cudaStreamDestroy(s->stream);
    delete s;
}
