// Host-side sampling for the batched generator: cheap and deterministic per sequence.
//  - same semantics and order as llama.cpp's sampler chain top_k -> top_p -> temp -> dist
//    (top-p is measured on the untempered softmax, as llama.cpp does);
//  - top-k in one pass that skips whole blocks below the current k-th best (most of a 128k vocabulary);
//  - the random draw is a pure function of (seed, step): no sampler state, no dependence on the batch;
//  - rows are spread over a persistent thread pool (thread start-up per step would cost more than the work).
#include "emovec.h"

#include "llama.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Uniform in [0, 1), a pure function of (seed, step).
double uniform(uint64_t seed, int32_t step) {
    uint64_t bits = splitmix64(splitmix64(seed) ^ (uint64_t) (uint32_t) step);
    return (double) (bits >> 11) * (1.0 / 9007199254740992.0);
}

struct Candidate { float logit; int32_t id; };

// Ties are broken by token id, so the candidate order is fully defined.
bool higher(const Candidate & a, const Candidate & b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

float block_max(const float * x, int32_t n) {
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int32_t i = 0; i < n; ++i) m = std::max(m, x[i]);
    return m;
}

// The k best tokens, best first. Small k: a min-heap of k, skipping every block of 64 logits whose maximum
// cannot enter it; large k or the whole vocabulary: selection over a full copy.
void top_k(const float * logits, int32_t n_vocab, int32_t k, std::vector<Candidate> & cand) {
    cand.clear();
    if (k <= 1024) {
        constexpr int32_t B = 64;
        for (int32_t b0 = 0; b0 < n_vocab; b0 += B) {
            const int32_t b1 = std::min(b0 + B, n_vocab);
            if ((int32_t) cand.size() == k && block_max(logits + b0, b1 - b0) <= cand.front().logit) continue;
            for (int32_t i = b0; i < b1; ++i) {
                // Scanning ids upwards, an equal logit always loses to the earlier id already held.
                if ((int32_t) cand.size() < k) {
                    cand.push_back({logits[i], i});
                    std::push_heap(cand.begin(), cand.end(), higher);
                } else if (logits[i] > cand.front().logit) {
                    std::pop_heap(cand.begin(), cand.end(), higher);
                    cand.back() = {logits[i], i};
                    std::push_heap(cand.begin(), cand.end(), higher);
                }
            }
        }
    } else {
        cand.resize(n_vocab);
        for (int32_t i = 0; i < n_vocab; ++i) cand[i] = {logits[i], i};
        if (k < n_vocab) std::nth_element(cand.begin(), cand.begin() + k, cand.end(), higher);
        cand.resize(k);
    }
    std::sort(cand.begin(), cand.end(), higher);
}

int32_t sample_row(const float * logits, int32_t n_vocab, float temp, int32_t k, float top_p,
                   uint64_t seed, int32_t step, std::vector<Candidate> & cand, std::vector<double> & p) {
    if (temp <= 0.0f) {
        return (int32_t) (std::max_element(logits, logits + n_vocab) - logits);
    }
    if (k <= 0 || k > n_vocab) k = n_vocab;
    top_k(logits, n_vocab, k, cand);
    const double max_l = cand[0].logit;
    p.resize(k);

    int32_t keep = k;
    if (top_p < 1.0f) {  // on the untempered distribution, as llama.cpp's top_p before temp
        double sum = 0.0;
        for (int32_t i = 0; i < k; ++i) { p[i] = std::exp(cand[i].logit - max_l); sum += p[i]; }
        double run = 0.0;
        for (int32_t i = 0; i < k; ++i) {
            run += p[i] / sum;
            if (run >= top_p) { keep = i + 1; break; }
        }
    }
    double sum = 0.0;
    for (int32_t i = 0; i < keep; ++i) { p[i] = std::exp((cand[i].logit - max_l) / temp); sum += p[i]; }
    const double target = uniform(seed, step) * sum;
    double run = 0.0;
    for (int32_t i = 0; i < keep; ++i) {
        run += p[i];
        if (run > target) return cand[i].id;
    }
    return cand[keep - 1].id;
}

// A fixed set of worker threads that run `job(i)` for i in [0, n); the caller works too. A run starts only
// when no worker is still inside the previous one, so no item is ever claimed across runs.
class Pool {
  public:
    void run(int32_t n_threads, int32_t n, const std::function<void(int32_t)> & job) {
        grow(n_threads - 1);
        std::unique_lock<std::mutex> lock(m_);
        idle_cv_.wait(lock, [&] { return active_ == 0; });
        job_ = &job;
        n_ = n;
        next_.store(0);
        done_ = 0;
        ++generation_;
        cv_.notify_all();
        ++active_;
        lock.unlock();
        work();
        lock.lock();
        --active_;
        idle_cv_.wait(lock, [&] { return done_ == n_; });
    }

    ~Pool() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
            cv_.notify_all();
        }
        for (auto & t : threads_) t.join();
    }

  private:
    void grow(int32_t workers) {
        while ((int32_t) threads_.size() < workers) {
            threads_.emplace_back([this] {
                uint64_t seen = 0;
                std::unique_lock<std::mutex> lock(m_);
                while (true) {
                    cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
                    if (stop_) return;
                    seen = generation_;
                    ++active_;
                    lock.unlock();
                    work();
                    lock.lock();
                    --active_;
                    idle_cv_.notify_all();
                }
            });
        }
    }

    // job_ and n_ are written only while active_ == 0 and read only while active_ > 0 (the mutex orders both).
    void work() {
        int32_t finished = 0;
        for (int32_t i; (i = next_.fetch_add(1)) < n_;) {
            (*job_)(i);
            ++finished;
        }
        if (finished > 0) {
            std::lock_guard<std::mutex> lock(m_);
            done_ += finished;
            if (done_ == n_) idle_cv_.notify_all();
        }
    }

    std::vector<std::thread> threads_;
    std::mutex m_;
    std::condition_variable cv_, idle_cv_;
    const std::function<void(int32_t)> * job_ = nullptr;
    int32_t n_ = 0, done_ = 0, active_ = 0;
    std::atomic<int32_t> next_{0};
    uint64_t generation_ = 0;
    bool stop_ = false;
};

Pool & pool() {
    static Pool p;
    return p;
}

}  // namespace

extern "C" int32_t emovec_sample(struct llama_context * ctx, int32_t n, const int32_t * rows,
                                 const float * temps, const int32_t * top_ks, const float * top_ps,
                                 const uint64_t * seeds, const int32_t * steps, int32_t * out_tokens,
                                 int32_t n_threads) {
    const llama_vocab * vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int32_t n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<const float *> logits(n);
    for (int32_t i = 0; i < n; ++i) {
        logits[i] = llama_get_logits_ith(ctx, rows[i]);
        if (logits[i] == nullptr) return -1;
    }
    static thread_local std::vector<Candidate> cand_tls;
    static thread_local std::vector<double> p_tls;
    pool().run(std::max(1, std::min(n_threads, n)), n, [&](int32_t i) {
        out_tokens[i] = sample_row(logits[i], n_vocab, temps[i], top_ks[i], top_ps[i], seeds[i], steps[i], cand_tls, p_tls);
    });
    return 0;
}
