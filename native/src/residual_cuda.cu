// Residual-stream kernels for the eval hook (see residual.cpp): steering adds coef * vector to chosen rows in
// place; capture sums chosen rows, and their norms, into per-(sequence, layer) accumulators that stay on the
// device until read. Each accumulator is summed by one block over its rows in order: deterministic, no atomics.
#include "hooks.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

namespace {

constexpr int kThreads = 256;

__global__ void steer_kernel(float * x, int64_t n_embd, const int32_t * row_vector, const float * row_coef, const float * vectors) {
    const int64_t r = blockIdx.x;
    const int32_t v = row_vector[r];
    if (v < 0) return;
    const float c = row_coef[r];
    for (int64_t j = blockIdx.y * kThreads + threadIdx.x; j < n_embd; j += (int64_t) gridDim.y * kThreads) {
        x[r * n_embd + j] += c * vectors[(int64_t) v * n_embd + j];
    }
}

__global__ void sum_kernel(const float * x, int64_t n_embd, const int32_t * slot, const int32_t * begin, const int32_t * rows, float * acc) {
    const int32_t s = blockIdx.x;
    const int64_t j = (int64_t) blockIdx.y * kThreads + threadIdx.x;
    if (j >= n_embd) return;
    float sum = 0.0f;
    for (int32_t i = begin[s]; i < begin[s + 1]; ++i) sum += x[(int64_t) rows[i] * n_embd + j];
    acc[(int64_t) slot[s] * n_embd + j] += sum;
}

__global__ void norm_kernel(const float * x, int64_t n_embd, const int32_t * slot, const int32_t * begin, const int32_t * rows, float * norms) {
    __shared__ float part[kThreads];
    const int32_t s = blockIdx.x;
    float total = 0.0f;
    for (int32_t i = begin[s]; i < begin[s + 1]; ++i) {
        const float * row = x + (int64_t) rows[i] * n_embd;
        float sq = 0.0f;
        for (int64_t j = threadIdx.x; j < n_embd; j += kThreads) sq += row[j] * row[j];
        part[threadIdx.x] = sq;
        __syncthreads();
        for (int w = kThreads / 2; w > 0; w /= 2) {
            if ((int) threadIdx.x < w) part[threadIdx.x] += part[threadIdx.x + w];
            __syncthreads();
        }
        total += sqrtf(part[0]);
        __syncthreads();
    }
    if (threadIdx.x == 0) norms[slot[s]] += total;
}

struct Scratch {
    cudaStream_t stream = nullptr;
    float * vectors = nullptr;
    int64_t vectors_version = -1;
    float * acc = nullptr;   // n_acc x n_embd sums, then n_acc norm sums
    int64_t n_acc = 0, n_embd = 0;
    void * plan = nullptr;
    size_t plan_size = 0;
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

}  // namespace

std::string emovec_cuda_residual(void ** scratch, float * d_x, int64_t n_embd, int64_t n_rows, const ResidualCudaPlan & plan,
                                 bool steer, const float * vectors, int32_t n_vectors, int64_t vectors_version, int64_t n_acc) {
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
    // the plan, packed into one upload: row_vector, row_coef, cap_slot, cap_begin, row_list
    const int32_t n_slots = plan.n_cap_slots, n_list = plan.cap_begin[n_slots];
    const size_t words = (size_t) 2 * n_rows + n_slots + (n_slots + 1) + n_list;
    std::vector<int32_t> host(words);
    int32_t * p = host.data();
    std::copy(plan.row_vector, plan.row_vector + n_rows, p);
    std::memcpy(p + n_rows, plan.row_coef, n_rows * sizeof(float));
    std::copy(plan.cap_slot, plan.cap_slot + n_slots, p + 2 * n_rows);
    std::copy(plan.cap_begin, plan.cap_begin + n_slots + 1, p + 2 * n_rows + n_slots);
    std::copy(plan.row_list, plan.row_list + n_list, p + 2 * n_rows + 2 * n_slots + 1);
    if (s->plan_size < words * sizeof(int32_t)) {
        if (s->plan != nullptr) cudaFree(s->plan);
        s->plan = nullptr;
        s->plan_size = 0;
        TRY(cudaMalloc(&s->plan, words * sizeof(int32_t) * 2));
        s->plan_size = words * sizeof(int32_t) * 2;
    }
    TRY(cudaMemcpyAsync(s->plan, host.data(), words * sizeof(int32_t), cudaMemcpyHostToDevice, s->stream));
    const auto * d = static_cast<const int32_t *>(s->plan);
    const unsigned chunks = (unsigned) ((n_embd + kThreads - 1) / kThreads);
    if (steer) {
        steer_kernel<<<dim3((unsigned) n_rows, std::min(chunks, 4u)), kThreads, 0, s->stream>>>(
            d_x, n_embd, d, reinterpret_cast<const float *>(d + n_rows), s->vectors);
        TRY(cudaPeekAtLastError());
    }
    if (n_slots > 0) {
        const int32_t * slot = d + 2 * n_rows;
        const int32_t * begin = slot + n_slots;
        const int32_t * list = begin + n_slots + 1;
        sum_kernel<<<dim3((unsigned) n_slots, chunks), kThreads, 0, s->stream>>>(d_x, n_embd, slot, begin, list, s->acc);
        TRY(cudaPeekAtLastError());
        norm_kernel<<<(unsigned) n_slots, kThreads, 0, s->stream>>>(d_x, n_embd, slot, begin, list, s->acc + s->n_acc * n_embd);
        TRY(cudaPeekAtLastError());
    }
    // llama.cpp's next node may overwrite or read this tensor as soon as the hook returns
    TRY(cudaStreamSynchronize(s->stream));
    return "";
}

std::string emovec_cuda_residual_read(void * scratch, int64_t first, int64_t n, int64_t n_embd, double * sums, double * norm_sums) {
    auto * s = static_cast<Scratch *>(scratch);
    if (s == nullptr || s->acc == nullptr) return "";
    std::vector<float> h((size_t) n * n_embd), hn(n);
    TRY(cudaMemcpy(h.data(), s->acc + first * n_embd, h.size() * sizeof(float), cudaMemcpyDeviceToHost));
    TRY(cudaMemcpy(hn.data(), s->acc + s->n_acc * n_embd + first, n * sizeof(float), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < h.size(); ++i) sums[i] += h[i];
    for (int64_t i = 0; i < n; ++i) norm_sums[i] += hn[i];
    return "";
}

std::string emovec_cuda_residual_clear(void * scratch, int64_t first, int64_t n, int64_t n_embd) {
    auto * s = static_cast<Scratch *>(scratch);
    if (s == nullptr || s->acc == nullptr) return "";
    TRY(cudaMemset(s->acc + first * n_embd, 0, (size_t) n * n_embd * sizeof(float)));
    TRY(cudaMemset(s->acc + s->n_acc * n_embd + first, 0, n * sizeof(float)));
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
    if (s->stream != nullptr) cudaStreamDestroy(s->stream);
    delete s;
}
