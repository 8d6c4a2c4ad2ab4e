// Exact per-row top-k of logits on the GPU: one block per row finds the k-th largest value by a 4-pass
// radix select over order-preserving 32-bit keys, then gathers every value at or above it.
#include "hooks.h"

#include <cuda_runtime.h>

#include <cstdio>

namespace {

__device__ __forceinline__ uint32_t key_of(float f) {
    uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void topk_kernel(const float * logits, int64_t n_vocab, int32_t k, int32_t cap,
                            int32_t * counts, int32_t * ids, float * vals) {
    const int64_t row = blockIdx.x;
    const float * x = logits + row * n_vocab;
    __shared__ uint32_t hist[256];
    __shared__ uint32_t prefix, mask;
    __shared__ int32_t need, n_out;
    if (threadIdx.x == 0) { prefix = 0; mask = 0; need = k; n_out = 0; }
    __syncthreads();
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) hist[b] = 0;
        __syncthreads();
        const uint32_t p = prefix, m = mask;
        for (int64_t i = threadIdx.x; i < n_vocab; i += blockDim.x) {
            const uint32_t u = key_of(x[i]);
            if ((u & m) == p) atomicAdd(&hist[(u >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            uint32_t above = 0;
            int b = 255;
            for (; b > 0; --b) {
                if (above + hist[b] >= (uint32_t) need) break;
                above += hist[b];
            }
            need -= (int32_t) above;
            prefix = p | ((uint32_t) b << shift);
            mask = m | (255u << shift);
        }
        __syncthreads();
    }
    const uint32_t t = prefix; // key of the k-th largest value
    for (int64_t i = threadIdx.x; i < n_vocab; i += blockDim.x) {
        if (key_of(x[i]) >= t) {
            const int32_t slot = atomicAdd(&n_out, 1);
            if (slot < cap) {
                ids[row * cap + slot] = (int32_t) i;
                vals[row * cap + slot] = x[i];
            }
        }
    }
    __syncthreads();
    if (threadIdx.x == 0) counts[row] = n_out;
}

struct Scratch {
    cudaStream_t stream = nullptr;
    void * buf = nullptr;
    size_t size = 0;
};

}  // namespace

// On failure: say once which call failed, and clear CUDA's sticky last error so that llama.cpp's next
// cudaGetLastError() does not blame its own kernel; the caller then samples from the full logits.
#define EMOVEC_CUDA_TRY(call)                                                                              \
    do {                                                                                                   \
        cudaError_t e_ = (call);                                                                           \
        if (e_ == cudaSuccess) e_ = cudaGetLastError();                                                    \
        if (e_ != cudaSuccess) {                                                                           \
            static bool said = false;                                                                      \
            if (!said) fprintf(stderr, "emovec: CUDA top-k disabled for this step: %s: %s\n", #call, cudaGetErrorString(e_)); \
            said = true;                                                                                   \
            cudaGetLastError();                                                                            \
            return (int) e_;                                                                               \
        }                                                                                                  \
    } while (0)

int emovec_cuda_topk(void ** scratch, const float * d_logits, int64_t n_vocab, int64_t n_rows, int32_t k, int32_t cap,
                     int32_t * counts, int32_t * ids, float * vals) {
    if (n_rows <= 0) return 0;
    auto * s = static_cast<Scratch *>(*scratch);
    if (s == nullptr) {
        s = new Scratch();
        *scratch = s;
        EMOVEC_CUDA_TRY(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    }
    const size_t need = (size_t) n_rows * (sizeof(int32_t) + (size_t) cap * (sizeof(int32_t) + sizeof(float)));
    if (s->size < need) {
        if (s->buf != nullptr) cudaFree(s->buf);
        s->buf = nullptr;
        s->size = 0;
        EMOVEC_CUDA_TRY(cudaMalloc(&s->buf, need));
        s->size = need;
    }
    auto * d_counts = static_cast<int32_t *>(s->buf);
    auto * d_ids = d_counts + n_rows;
    auto * d_vals = reinterpret_cast<float *>(d_ids + n_rows * cap);
    topk_kernel<<<(unsigned) n_rows, 512, 0, s->stream>>>(d_logits, n_vocab, k, cap, d_counts, d_ids, d_vals);
    EMOVEC_CUDA_TRY(cudaPeekAtLastError());
    EMOVEC_CUDA_TRY(cudaMemcpyAsync(counts, d_counts, n_rows * sizeof(int32_t), cudaMemcpyDeviceToHost, s->stream));
    EMOVEC_CUDA_TRY(cudaMemcpyAsync(ids, d_ids, n_rows * cap * sizeof(int32_t), cudaMemcpyDeviceToHost, s->stream));
    EMOVEC_CUDA_TRY(cudaMemcpyAsync(vals, d_vals, n_rows * cap * sizeof(float), cudaMemcpyDeviceToHost, s->stream));
    EMOVEC_CUDA_TRY(cudaStreamSynchronize(s->stream));
    return 0;
}

void emovec_cuda_free(void * scratch) {
    auto * s = static_cast<Scratch *>(scratch);
    if (s == nullptr) return;
    if (s->buf != nullptr) cudaFree(s->buf);
    if (s->stream != nullptr) cudaStreamDestroy(s->stream);
    delete s;
}
