// What emovec reaches inside llama.cpp for, beyond its public API. All of it comes from llama.cpp's internal
// headers (llama_context, ggml_backend_event), from the very llama.cpp source this library is built against
// (cmake/build-native.sh passes it), so a change there fails this build rather than misbehaving.
//
// 1. Splitting llama.cpp's graph evaluation at the tensors the hooks read or change, without its eval callback.
//    With a callback ggml evaluates the graph in stretches and stops the host after each (ggml_backend_synchronize
//    in ggml_backend_sched_compute_splits): the GPU idles while the host runs the callback and launches the next
//    stretch, and llama.cpp can no longer prepare the next ubatch while the GPU works. On an H100 that cost 3% of
//    the 256-sequence decode rate at one hooked layer, 10% at every layer, and 8-10% of prefill. Instead each of
//    llama.cpp's backends gets its graph_compute (ggml_backend_i, a per-backend function table) wrapped: a graph
//    with hooked tensors is computed in views cut after each, the hook's work queued between them (hooks.cpp,
//    split_compute). Nothing waits on the host.
// 2. Ordering the hook's GPU work between two views without stopping the host: an event recorded on llama.cpp's
//    stream after the view, which our stream waits for before its kernels, and an event after our kernels, which
//    llama.cpp's stream waits for before the next view (ggml_backend_event_record / _wait). The backends come
//    from llama_context::get_sched() (exported).
// 3. Skipping llama.cpp's copy of the logits to the host when the sampler needs only the candidates the hooks
//    reduce on the device (below, llama_hide_logits); the graph result holding them is private to llama_context
//    and reached with the explicit-instantiation rule (access checks do not apply to names in an explicit
//    instantiation, [temp.spec.general]).
// 4. Copying a shared prompt's KV cache from one sequence's stream to another's without stopping the host
//    (emovec_kv_copy, below).
// 5. Keeping ggml-cuda from updating executable CUDA graphs in place (cuda_graphs.cu, called from wrapped_compute).
#include "hooks.h"

#include "ggml-backend-impl.h"
#include "ggml-impl.h"
#include "llama-context.h"
#include "llama-kv-cache.h"

#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace {

// A pointer to a private member, handed out by a friend function defined in an explicit instantiation.
template <typename Tag, typename Tag::type Member> struct Reach {
    friend typename Tag::type member(Tag) { return Member; }
};
struct LastResultOf { using type = llm_graph_result * llama_context::*; friend type member(LastResultOf); };
template struct Reach<LastResultOf, &llama_context::gf_res_prev_active>;
// The same for members whose type is private too (llama_kv_cache::layers): the type is deduced, never named.
template <typename Tag, auto Member> struct ReachAuto {
    friend auto member(Tag) { return Member; }
};
struct KvLayersOf { friend auto member(KvLayersOf); };
template struct ReachAuto<KvLayersOf, &llama_kv_cache::layers>;
struct KvCopiesOf { friend auto member(KvCopiesOf); };
template struct ReachAuto<KvCopiesOf, &llama_kv_cache::sc_info>;
struct KvCellsOf { friend auto member(KvCellsOf); };
template struct ReachAuto<KvCellsOf, &llama_kv_cache::v_cells_impl>;
struct KvVTransOf { friend auto member(KvVTransOf); };
template struct ReachAuto<KvVTransOf, &llama_kv_cache::v_trans>;

// Each wrapped backend: its own graph_compute, and the hooks that split its graphs (nullptr once freed; the entry
// stays, since llama.cpp may still compute on the backend, or free it, after the hooks are gone).
struct Wrapped {
    emovec::GraphCompute compute;
    emovec_hooks * hooks;
};
std::mutex wrapped_mutex;
std::unordered_map<ggml_backend_t, Wrapped> wrapped;

// ggml-cuda's backends are named CUDA0, CUDA1, ...; only their context is a ggml_backend_cuda_context
bool is_cuda(ggml_backend_t backend) { return std::strncmp(ggml_backend_name(backend), "CUDA", 4) == 0; }

ggml_status wrapped_compute(ggml_backend_t backend, ggml_cgraph * graph) {
    Wrapped w;
    {
        std::lock_guard<std::mutex> lock(wrapped_mutex);
        w = wrapped.at(backend);
    }
#ifdef EMOVEC_CUDA
    if (is_cuda(backend)) emovec::cuda_graphs_drop_stale(backend->context, ggml_backend_name(backend));
#endif
    if (w.hooks == nullptr) return w.compute(backend, graph);
    const auto t0 = std::chrono::steady_clock::now();
    const bool split = w.hooks->split;
    const ggml_status status = split ? emovec::split_compute(w.hooks, backend, graph, w.compute) : w.compute(backend, graph);
    (split ? w.hooks->prof_split_graphs : w.hooks->prof_whole_graphs)++;
    w.hooks->prof_compute += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return status;
}

}  // namespace

namespace emovec {

void llama_wrap_backends(emovec_hooks * h) {
    ggml_backend_sched_t sched = h->ctx->get_sched();
    std::lock_guard<std::mutex> lock(wrapped_mutex);
    for (int i = 0; sched != nullptr && i < ggml_backend_sched_get_n_backends(sched); ++i) {
        ggml_backend_t b = ggml_backend_sched_get_backend(sched, i);
        if (b->iface.graph_compute != wrapped_compute) wrapped[b] = {b->iface.graph_compute, h};
        else wrapped[b].hooks = h;
        b->iface.graph_compute = wrapped_compute;
    }
}

ggml_status llama_compute_view(ggml_backend_t backend, ggml_cgraph * graph, int i0, int i1, GraphCompute compute) {
    ggml_cgraph view = ggml_graph_view(graph, i0, i1);
    // ggml-cuda replays its CUDA graph for a graph whose uid it has seen without comparing the nodes; a view's uid
    // is 0, so every node of every view was compared at every decode (~0.8 ms a step of the 8B model on an H100).
    // The scheduler keeps a split's uid while llama.cpp reuses the graph, so the same range of the same split holds
    // the same nodes: the view gets a uid of its own, derived from both (top bit set, apart from ggml's counter).
    if (graph->uid != 0) {
        uint64_t x = graph->uid * 0x9E3779B97F4A7C15ull ^ ((uint64_t) i0 << 32 | (uint32_t) i1);
        x = (x ^ (x >> 31)) * 0xBF58476D1CE4E5B9ull;
        view.uid = (x ^ (x >> 29)) | (1ull << 63);
    }
    return compute(backend, &view);
}

bool llama_stream_events(emovec_hooks * h, ggml_backend_t backend, void ** ready, void ** done) {
    // only CUDA events are cudaEvent_t; any other backend keeps the synchronising path
    if (!is_cuda(backend)) return false;
    auto & e = h->events[backend];
    if (e.first == nullptr) e.first = ggml_backend_event_new(ggml_backend_get_device(backend));
    if (e.second == nullptr) e.second = ggml_backend_event_new(ggml_backend_get_device(backend));
    if (e.first == nullptr || e.second == nullptr) return false;
    ggml_backend_event_record(e.first, backend);
    *ready = e.first->context;
    *done = e.second->context;
    return true;
}

void llama_stream_wait(emovec_hooks * h, ggml_backend_t backend) { ggml_backend_event_wait(backend, h->events[backend].second); }

// llama.cpp copies the logits of each ubatch to the host when its graph result names a logits tensor
// (llama_context::decode: `if (logits.data && t_logits ...)`). A graph it builds names them; a reused one keeps
// whatever its result holds, so clearing t_logits of the last graph result skips the copy of the next decode that
// reuses it, and nothing else: the tensor is still computed, in the same memory (set as an output at build).
ggml_tensor * llama_decoded_logits(emovec_hooks * h, bool * copied) {
    llm_graph_result * res = h->ctx->*member(LastResultOf{});
    *copied = true;
    if (res == nullptr) return nullptr;
    if (res->t_logits != nullptr) {  // shown (or a graph built for this decode): copied
        h->held_graph = res;
        h->held_logits = res->t_logits;
        return res->t_logits;
    }
    if (res != h->held_graph) return nullptr;
    *copied = false;  // the graph we hid its logits from, reused
    return h->held_logits;
}

void llama_hide_logits(emovec_hooks * h, bool hide) {
    llm_graph_result * res = h->ctx->*member(LastResultOf{});
    // a last graph that is not the one we saw will not be reused (llama.cpp reuses only its active result)
    if (res == nullptr || res != h->held_graph) return;
    if (hide && res->t_logits == h->held_logits) res->t_logits = nullptr;
    if (!hide && res->t_logits == nullptr) res->t_logits = h->held_logits;
}

void llama_hooks_free(emovec_hooks * h) {
    {
        std::lock_guard<std::mutex> lock(wrapped_mutex);
        for (auto & w : wrapped) {
            if (w.second.hooks == h) w.second.hooks = nullptr;
        }
    }
    for (auto & e : h->events) {
        if (e.second.first != nullptr) ggml_backend_event_free(e.second.first);
        if (e.second.second != nullptr) ggml_backend_event_free(e.second.second);
    }
    h->events.clear();
}

}  // namespace emovec

// 4. llama_memory_seq_cp between two sequences' streams (a KV stream per sequence) only records the copy; the next
//    llama_decode makes it, after llama_synchronize, with a blocking copy per layer and K/V tensor (64 host waits a
//    copy for an 8B model, llama_kv_cache::update). With two contexts stepped in turn those waits stop the host
//    while the GPU works on the other context: measured on an H100, shared-prompt stories ran at 0.7x of one
//    context. Here the copy is taken off that list and queued on the context's own stream instead (ordered after
//    the decode that wrote the source, before the next one), and only over the source's used cells.
extern "C" int32_t emovec_kv_copy(struct llama_context * ctx, int32_t seq_src, int32_t seq_dst) {
    llama_memory_t mem = llama_get_memory(ctx);
    auto * kv = dynamic_cast<llama_kv_cache *>(mem);
    if (kv == nullptr) {  // another kind of memory: llama.cpp's own copy
        llama_memory_seq_cp(mem, seq_src, seq_dst, -1, -1);
        return 0;
    }
    // streams of several sequences (emovec_init_context): only a copy within one, which shares the cells
    if (&kv->get_cells(seq_src) != &kv->get_cells(seq_dst) && kv->get_n_stream() < llama_n_seq_max(ctx)) return -2;
    auto & copies = kv->*member(KvCopiesOf{});
    const size_t pending = copies.ssrc.size();
    llama_memory_seq_cp(mem, seq_src, seq_dst, -1, -1);
    if (copies.ssrc.size() != pending + 1) return 0;  // one stream for both: llama.cpp shared the cells, no data moves
    const uint32_t s0 = copies.ssrc.back(), s1 = copies.sdst.back();
    const uint32_t used = (*(kv->*member(KvCellsOf{})))[s0].used_max_p1();
    const bool v_trans = kv->*member(KvVTransOf{});
    ggml_backend_sched_t sched = ctx->get_sched();
    // the first of the context's backends that can reach a buffer (the scheduler lists GPUs before the CPU)
    auto backend_of = [&](const ggml_tensor * t) -> ggml_backend_t {
        ggml_backend_buffer_type_t buft = ggml_backend_buffer_get_type(t->buffer);
        for (int i = 0; i < ggml_backend_sched_get_n_backends(sched); ++i) {
            ggml_backend_t b = ggml_backend_sched_get_backend(sched, i);
            if (ggml_backend_supports_buft(b, buft)) return b;
        }
        return nullptr;
    };
    // cells [0, used) of a stream: rows of a [width, cells] view; a transposed V keeps its cells along rows, whole
    auto copy = [&](ggml_tensor * src, ggml_tensor * dst, bool prefix) -> bool {
        if (src == nullptr || dst == nullptr) return true;
        ggml_backend_t b = backend_of(src);
        if (b == nullptr) return false;
        ggml_tensor from = *src, to = *dst;
        if (prefix && ggml_n_dims(src) == 2 && used <= src->ne[1]) from.ne[1] = to.ne[1] = used;
        if (from.ne[1] > 0) ggml_backend_tensor_copy_async(b, b, &from, &to);  // CUDA: on b's stream; else waits and copies
        return true;
    };
    for (auto & layer : kv->*member(KvLayersOf{})) {
        if (!copy(layer.k_stream[s0], layer.k_stream[s1], true)) return -1;
        if (!layer.v_stream.empty() && !copy(layer.v_stream[s0], layer.v_stream[s1], !v_trans)) return -1;
    }
    copies.ssrc.pop_back();
    copies.sdst.pop_back();
    return 0;
}
