// A fixed set of worker threads that run job(i) for i in [0, n); the caller works too. A run starts only when
// no worker is still inside the previous one, so no item is ever claimed across runs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace emovec {

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

    static Pool & shared() {
        static Pool p;
        return p;
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

}  // namespace emovec
