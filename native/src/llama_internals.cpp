// What emovec reaches inside llama.cpp for, beyond its public API. All of it comes from llama.cpp's internal
// headers (llama_context, ggml_backend_event), from the very llama.cpp source this library is built against
// (cmake/build-native.sh passes it), so a change there fails this build rather than misbehaving.
//
// 1. Ordering the hook's GPU work before llama.cpp's next kernels without stopping the host. llama.cpp calls the
//    eval hook after synchronising its stream; whatever the hook launches must finish before llama.cpp's next
//    node overwrites the tensor (the allocator reuses its memory), and the plain way to ensure that is a
//    cudaStreamSynchronize per hooked layer: ~60 us of an idle GPU each, 2-3 ms a decode step at 31 layers.
//    Instead the hook's kernels end with an event on our stream and llama.cpp's own backend waits for that event
//    (ggml_backend_event_wait = cudaStreamWaitEvent on llama.cpp's stream): the host goes straight on. The
//    backend comes from llama_context::get_sched() (exported).
// 2. The eval callback, on only for decodes that need it. With a callback ggml evaluates the graph node by node
//    (asking the callback about each, synchronising after every stretch): on an H100 that alone cost 3% of the
//    256-sequence decode rate and 8-10% of prefill. The callback lives in llama_context's private cparams, and the logits of
//    the last ubatch in its private last graph result; both are reached with the explicit-instantiation rule
//    (access checks do not apply to names in an explicit instantiation, [temp.spec.general]).
// 3. Skipping llama.cpp's copy of the logits to the host when the sampler needs only the candidates the hooks
//    reduce on the device (below, llama_hide_logits).
#include "hooks.h"

#include "ggml-backend-impl.h"
#include "llama-context.h"

#include <cstring>

namespace {

// A pointer to a private member, handed out by a friend function defined in an explicit instantiation.
template <typename Tag, typename Tag::type Member> struct Reach {
    friend typename Tag::type member(Tag) { return Member; }
};
struct CparamsOf { using type = llama_cparams llama_context::*; friend type member(CparamsOf); };
struct LastResultOf { using type = llm_graph_result * llama_context::*; friend type member(LastResultOf); };
template struct Reach<CparamsOf, &llama_context::cparams>;
template struct Reach<LastResultOf, &llama_context::gf_res_prev_active>;

}  // namespace

namespace emovec {

void * llama_stream_event(emovec_hooks * h, const ggml_tensor * t) {
    if (h->ctx == nullptr || t->buffer == nullptr) return nullptr;
    ggml_backend_dev_t dev = ggml_backend_buft_get_device(ggml_backend_buffer_get_type(t->buffer));
    if (h->stream_backend != nullptr && ggml_backend_get_device(h->stream_backend) == dev) return h->stream_event->context;
    if (h->stream_event != nullptr) ggml_backend_event_free(h->stream_event);
    h->stream_event = nullptr;
    h->stream_backend = nullptr;
    ggml_backend_sched_t sched = h->ctx->get_sched();
    for (int i = 0; sched != nullptr && i < ggml_backend_sched_get_n_backends(sched); ++i) {
        ggml_backend_t b = ggml_backend_sched_get_backend(sched, i);
        // only CUDA events are cudaEvent_t; any other backend keeps the synchronising path
        if (ggml_backend_get_device(b) != dev || std::strncmp(ggml_backend_name(b), "CUDA", 4) != 0) continue;
        ggml_backend_event_t e = ggml_backend_event_new(dev);
        if (e == nullptr) return nullptr;
        h->stream_backend = b;
        h->stream_event = e;
        return e->context;
    }
    return nullptr;
}

void llama_stream_wait(emovec_hooks * h) { ggml_backend_event_wait(h->stream_backend, h->stream_event); }

void llama_set_eval_callback(emovec_hooks * h, bool on) {
    llama_cparams & cp = h->ctx->*member(CparamsOf{});
    cp.cb_eval = on ? emovec_hooks_callback() : nullptr;
    cp.cb_eval_user_data = on ? h : nullptr;
    // llama.cpp hands cparams' callback to its scheduler when it builds a graph; a reused graph keeps the old one
    ggml_backend_sched_set_eval_callback(h->ctx->get_sched(), cp.cb_eval, cp.cb_eval_user_data);
}

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

void llama_stream_free(emovec_hooks * h) {
    if (h->stream_event != nullptr) ggml_backend_event_free(h->stream_event);
    h->stream_event = nullptr;
    h->stream_backend = nullptr;
}

}  // namespace emovec
