package org.emovec.engine;

import java.nio.charset.StandardCharsets;

/** Per-item seeds derived from a base seed and a stable id, so any item regenerates alone. */
public final class Seeds {
    private Seeds() {}

    public static long of(long base, String id) {
        long h = base ^ 0x9E3779B97F4A7C15L;
        for (byte b : id.getBytes(StandardCharsets.UTF_8)) h = mix(h ^ (b & 0xff));
        return mix(h) & Long.MAX_VALUE;
    }

    /** splitmix64's finaliser: a well-mixed 64-bit hash of x. */
    public static long mix(long x) {
        x += 0x9E3779B97F4A7C15L;
        x = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
        x = (x ^ (x >>> 27)) * 0x94D049BB133111EBL;
        return x ^ (x >>> 31);
    }
}
