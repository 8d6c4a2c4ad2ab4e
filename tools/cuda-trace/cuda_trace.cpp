// A small GPU timeline recorder for the GPU machine, which has ncu but not nsys: loaded by the CUDA driver through
// CUDA_INJECTION64_PATH, it records every kernel, memcpy, memset and synchronisation, and the host's CUDA runtime
// calls (what the host thread is doing between GPU work), with CUPTI's activity API and writes them as CSV to
// $CUDA_TRACE_OUT (analyze.py turns them into per-phase summaries: GPU busy time, idle gaps,
// the kernels that take the time). Built on the GPU machine by build.sh (the CUPTI record struct names differ
// between CUDA versions: build.sh passes the newest this toolkit defines).
#include <cupti.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

std::mutex out_mutex;
FILE * out = nullptr;
std::unordered_map<std::string, int> names;
std::unordered_map<uint32_t, bool> api_named;
std::atomic<long long> records{0};
long long max_records = 20000000;

int name_id(const char * name) {
    auto it = names.find(name ? name : "?");
    if (it != names.end()) return it->second;
    const int id = (int) names.size();
    names.emplace(name ? name : "?", id);
    std::fprintf(out, "N,%d,%s\n", id, name ? name : "?");
    return id;
}

void CUPTIAPI buffer_requested(uint8_t ** buffer, size_t * size, size_t * max_records_out) {
    *size = 16 << 20;
    *buffer = static_cast<uint8_t *>(std::aligned_alloc(8, *size));
    *max_records_out = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t * buffer, size_t, size_t valid) {
    std::lock_guard<std::mutex> lock(out_mutex);
    CUpti_Activity * r = nullptr;
    while (out != nullptr && cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS) {
        if (records++ >= max_records) break;
        switch (r->kind) {
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
            auto * k = reinterpret_cast<TRACE_KERNEL *>(r);
            std::fprintf(out, "K,%llu,%llu,%u,%d,%u,%u\n", (unsigned long long) k->start, (unsigned long long) k->end, k->streamId,
                         name_id(k->name), k->gridX * k->gridY * k->gridZ, k->blockX * k->blockY * k->blockZ);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY: {
            auto * m = reinterpret_cast<TRACE_MEMCPY *>(r);
            std::fprintf(out, "C,%llu,%llu,%u,%u,%llu\n", (unsigned long long) m->start, (unsigned long long) m->end, m->streamId,
                         (unsigned) m->copyKind, (unsigned long long) m->bytes);
            break;
        }
        case CUPTI_ACTIVITY_KIND_MEMSET: {
            auto * m = reinterpret_cast<TRACE_MEMSET *>(r);
            std::fprintf(out, "M,%llu,%llu,%u,0,%llu\n", (unsigned long long) m->start, (unsigned long long) m->end, m->streamId,
                         (unsigned long long) m->bytes);
            break;
        }
        case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
            auto * s = reinterpret_cast<TRACE_SYNC *>(r);
            std::fprintf(out, "S,%llu,%llu,%u,%u\n", (unsigned long long) s->start, (unsigned long long) s->end, s->streamId, (unsigned) s->type);
            break;
        }
        case CUPTI_ACTIVITY_KIND_RUNTIME: {
            auto * a = reinterpret_cast<CUpti_ActivityAPI *>(r);
            if (!api_named[a->cbid]) {
                const char * name = nullptr;
                cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, a->cbid, &name);
                std::fprintf(out, "R,%u,%s\n", a->cbid, name ? name : "?");
                api_named[a->cbid] = true;
            }
            std::fprintf(out, "A,%llu,%llu,%u,%u\n", (unsigned long long) a->start, (unsigned long long) a->end, a->cbid, a->threadId);
            break;
        }
        default:
            break;
        }
    }
    std::free(buffer);
}

void finish() {
    cuptiActivityFlushAll(1);
    std::lock_guard<std::mutex> lock(out_mutex);
    if (out != nullptr) {
        std::fprintf(out, "E,%lld\n", records.load());
        std::fclose(out);
        out = nullptr;
    }
}

}  // namespace

extern "C" int InitializeInjection(void) {
    const char * path = std::getenv("CUDA_TRACE_OUT");
    out = std::fopen(path ? path : "cuda-trace.csv", "w");
    if (out == nullptr) return 0;
    if (const char * m = std::getenv("CUDA_TRACE_MAX")) max_records = std::atoll(m);
    // CUPTI's clock and the wall clock at one instant, so that a phase's wall-clock marks find its records
    uint64_t gpu_ts = 0;
    cuptiGetTimestamp(&gpu_ts);
    timespec wall{};
    clock_gettime(CLOCK_REALTIME, &wall);
    std::fprintf(out, "T,%llu,%lld\n", (unsigned long long) gpu_ts, (long long) wall.tv_sec * 1000000000LL + wall.tv_nsec);
    cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_SYNCHRONIZATION);
    const char * api = std::getenv("CUDA_TRACE_API"); // host CUDA runtime calls: one record per call
    if (api != nullptr && *api != '\0' && std::strcmp(api, "0") != 0) cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
    cuptiActivityFlushPeriod(2000);
    std::atexit(finish);
    return 1;
}
