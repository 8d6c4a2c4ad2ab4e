package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.llama_supports_gpu_offload;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/** Opening the llama.cpp contexts that {@link PromptScorer} and {@link BatchGenerator} decode on in turn. */
final class Lanes {
    private Lanes() {}

    /**
     * Up to {@code requested} lanes (0: two where llama.cpp offloads to a GPU, else one). The first must fit; a
     * further one is a speed-up, left out with a one-line note ({@code doing}: "scoring", "generating") where
     * it does not. The list is mutable, for the owner's close.
     */
    static <T> List<T> open(int requested, Supplier<T> lane, String doing) {
        int wanted = requested > 0 ? requested : (llama_supports_gpu_offload() ? 2 : 1);
        List<T> lanes = new ArrayList<>();
        lanes.add(lane.get());
        while (lanes.size() < wanted) {
            try {
                lanes.add(lane.get());
            } catch (EmovecException e) {
                System.err.println("emovec: " + doing + " on " + lanes.size() + " context(s), another did not fit (" + e.getMessage() + ")");
                break;
            }
        }
        return lanes;
    }
}
