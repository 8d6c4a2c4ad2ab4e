// Ordering the hook's GPU work before llama.cpp's next kernels without stopping the host.
// llama.cpp calls the eval hook after synchronising its stream; whatever the hook launches must finish before
// llama.cpp's next node overwrites the tensor (the allocator reuses its memory), and the plain way to ensure that
// is a cudaStreamSynchronize per hooked layer: ~60 us of an idle GPU each, 2-3 ms a decode step at 31 layers.
// Instead the hook's kernels end with an event on our stream and llama.cpp's own backend waits for that event
// (ggml_backend_event_wait = cudaStreamWaitEvent on llama.cpp's stream): the host goes straight on.
// llama.cpp does not publish its backends; llama_context::get_sched() (exported, from llama.cpp's internal
// header) does, and the event's CUDA handle sits in ggml's internal ggml_backend_event. Both headers come from
// the very llama.cpp source this library is built against (cmake/build-native.sh passes it).
#include "hooks.h"

#include "ggml-backend-impl.h"
#include "llama-context.h"

#include <cstring>

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

void llama_stream_free(emovec_hooks * h) {
    if (h->stream_event != nullptr) ggml_backend_event_free(h->stream_event);
    h->stream_event = nullptr;
    h->stream_backend = nullptr;
}

}  // namespace emovec
