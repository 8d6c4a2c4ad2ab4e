package org.emovec.engine;

/**
 * How one sequence picks its tokens. temperature <= 0 is greedy; topK <= 0 keeps the whole vocabulary;
 * topP >= 1 is off. The seed alone decides the random draws, so a sequence regenerates identically whatever
 * else shares its batch.
 */
public record Sampling(float temperature, int topK, float topP, long seed) {
    /** llama.cpp's own defaults (temperature 0.8, top-k 40, top-p 0.95). */
    public static Sampling defaults(long seed) {
        return new Sampling(0.8f, 40, 0.95f, seed);
    }

    public static Sampling greedy() {
        return new Sampling(0f, 1, 1f, 0);
    }

    public Sampling withSeed(long newSeed) {
        return new Sampling(temperature, topK, topP, newSeed);
    }
}
