// ggml-cuda replays each graph it computes as a CUDA graph; when a graph's shapes change and then hold, it captures
// a new one and updates the old executable graph in place (cudaGraphExecUpdate). An in-place update does not carry
// a kernel node's thread-block cluster size over (the same limitation made MLX re-instantiate whenever clusters are
// used, ml-explore/mlx#2813), and cuBLAS's Hopper GEMMs pick cluster kernels by shape: after an update a GEMM can
// launch with another kernel's cluster. On an H100 that aborted two 10%-corpus runs while their last waves drained
// and shapes changed every few steps: "an illegal instruction was encountered" in cuBLAS's
// sm90_xmma_gemm_f16f16_f16f16_f16_tn_n_tilesize64x64x64_..._execute_segment_k_off_kernel, at a barrier wait
// (GPU core dump read with cuda-gdb, docs/measurements/2026-11-25-h100-graph-update/).
// So an executable graph whose shapes changed is dropped before ggml-cuda would update it, and ggml-cuda
// instantiates its next capture afresh (cudaGraphExecDestroy defers freeing a graph still in flight).
// This reads ggml-cuda's own context type, from the very llama.cpp source libggml-cuda was built from, compiled
// with the flag that build used (GGML_CUDA_USE_GRAPHS, forced on in cmake/llama/CMakeLists.txt).
#include "common.cuh"

#include "hooks.h"

#include <cstdio>
#include <cstdlib>

namespace emovec {

void cuda_graphs_drop_stale(void * backend_context, const char * backend_name) {
    // EMOVEC_CUDA_GRAPH_UPDATE=1: llama.cpp's in-place updates, to measure what re-instantiation costs
    static const bool update_in_place = std::getenv("EMOVEC_CUDA_GRAPH_UPDATE") != nullptr;
    if (update_in_place) return;
    auto * ctx = static_cast<ggml_backend_cuda_context *>(backend_context);
    // the type as compiled here must be the one libggml-cuda filled in: its name ("CUDA0") is the backend's
    if (ctx->name != backend_name) {
        static bool said = false;
        if (!said) std::fprintf(stderr, "emovec: ggml-cuda's context does not match the headers libemovec was built with; CUDA graphs are left to llama.cpp\n");
        said = true;
        return;
    }
    for (auto & entry : ctx->cuda_graphs) {
        ggml_cuda_graph * g = entry.second.get();
        // past warm-up once, then shapes changed: the next stable compute captures and would update this instance
        if (g != nullptr && g->instance != nullptr && !g->warmup_complete) {
            cudaGraphExecDestroy(g->instance);
            g->instance = nullptr;
        }
    }
}

}  // namespace emovec
