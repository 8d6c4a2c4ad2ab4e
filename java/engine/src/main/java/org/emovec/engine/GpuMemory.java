package org.emovec.engine;

import java.util.concurrent.atomic.AtomicLong;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * Device memory as CUDA reports it (cudaMemGetInfo through the JavaCPP CUDA preset): used = total - free on
 * device 0, every process's allocations and the CUDA context included. Where there is no CUDA (a CPU build, no
 * driver) {@link #available()} is false and the figures are -1. A {@link Peak} samples in the background so a
 * stage's high-water mark is seen even when buffers are freed before it ends.
 */
public final class GpuMemory {
    private static final boolean AVAILABLE = load();

    private GpuMemory() {}

    private static boolean load() {
        if (!Native.gpuBuild()) return false; // no CUDA in this libllama: do not touch the driver
        try {
            Loader.load(cudart.class);
            int[] n = new int[1];
            return cudart.cudaGetDeviceCount(n) == 0 && n[0] > 0;
        } catch (Throwable e) {
            return false;
        }
    }

    public static boolean available() { return AVAILABLE; }

    /** Bytes in use on device 0 now, or -1. */
    public static long used() {
        if (!AVAILABLE) return -1;
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            return cudart.cudaMemGetInfo(free, total) != 0 ? -1 : total.get() - free.get();
        }
    }

    /** The highest {@link #used()} seen between start and close, sampled every 20 ms. */
    public static final class Peak implements AutoCloseable {
        private final AtomicLong peak = new AtomicLong(used());
        private final Thread sampler;
        private volatile boolean running = true;

        public Peak() {
            sampler = new Thread(() -> {
                while (running) {
                    peak.accumulateAndGet(used(), Math::max);
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "emovec-gpu-memory");
            sampler.setDaemon(true);
            if (AVAILABLE) sampler.start();
        }

        /** Bytes, or -1 without CUDA. */
        public long bytes() { return peak.accumulateAndGet(used(), Math::max); }

        @Override
        public void close() {
            running = false;
            sampler.interrupt();
        }
    }
}
