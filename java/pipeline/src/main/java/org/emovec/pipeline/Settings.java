package org.emovec.pipeline;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.emovec.engine.EmovecException;
import org.emovec.engine.GeneratorOptions;
import org.emovec.paperdata.PaperData;

/**
 * Every choice a run makes, recorded in the run's manifest and printed in the report. Fields are grouped by
 * the stage whose output they change (see {@link #stageOf}): changing a stories or extract setting on an
 * existing run is refused (the corpus would mix two methods); check settings may change, and validate reruns.
 * Layers follow emovec's convention: layer L = the residual after block L = llama.cpp l_out-L = HF
 * hidden_states[L+1].
 */
public record Settings(
        // stories: the paper's corpus
        List<String> emotions, int topics, int storiesPerTopic, int storiesPerCall, String storyUserTurn,
        int storyMaxTokens, float temperature, int topK, float topP, long seed, String storyKvCache,
        int neutralTopics, int dialoguesPerTopic, int dialogueMaxTokens,
        // extract: activations and vectors
        int fromToken, List<Integer> layers, double pcaVariance,
        // validate: the checks
        int layer, String readAt, String scenarioCentering, int lensTopK, int eloK, int eloOrders, double eloStart,
        int steerTop, List<String> steerExemplars, double steerAlphaNorm) {

    /** The emotions every check relies on when present (Table 1/2 of the paper and the steering exemplars). */
    public static final List<String> KEY_EMOTIONS = List.of("happy", "sad", "calm", "afraid", "blissful", "hostile", "loving", "angry",
            "proud", "guilty", "inspired", "desperate", "nervous", "surprised");

    public Settings {
        Set<String> known = new LinkedHashSet<>();
        for (PaperData.Emotion e : PaperData.emotions()) known.add(e.word());
        for (String e : emotions) if (!known.contains(e)) throw new EmovecException("'" + e + "' is not one of the paper's 171 emotions (see emovec's paperdata/emotions.tsv)");
        if (new LinkedHashSet<>(emotions).size() != emotions.size()) throw new EmovecException("--emotions lists an emotion twice");
        if (emotions.size() < 2) throw new EmovecException("--emotions: at least 2 emotions are needed (vectors are each emotion minus their mean)");
        if (topics < 1 || topics > PaperData.topics().size()) throw new EmovecException("--topics must be 1.." + PaperData.topics().size() + ", not " + topics);
        if (storiesPerTopic < 1 || storiesPerCall < 1 || storiesPerTopic % storiesPerCall != 0) {
            throw new EmovecException("--stories must be a positive multiple of --stories-per-call (" + storiesPerTopic + ", " + storiesPerCall + ")");
        }
        if (neutralTopics < 2 || neutralTopics > NeutralTopics.all().size()) throw new EmovecException("--neutral-topics must be 2.." + NeutralTopics.all().size());
        if (pcaVariance < 0 || pcaVariance >= 1) throw new EmovecException("--pca-variance must be in [0, 1), not " + pcaVariance);
        if (!List.of("header-end", "header").contains(readAt)) throw new EmovecException("--read-at must be header-end or header, not " + readAt);
        if (!List.of("none", "columns").contains(scenarioCentering)) throw new EmovecException("--scenario-centering must be none or columns");
        if (fromToken < 1) throw new EmovecException("--from-token must be at least 1");
        if (storyKvCache == null) storyKvCache = "f16"; // runs from before the setting
        GeneratorOptions.KvCache.of(storyKvCache);
        emotions = List.copyOf(emotions);
        layers = List.copyOf(layers);
        steerExemplars = List.copyOf(steerExemplars);
    }

    /** The paper's scale: 171 emotions x 100 topics x 12 stories, vectors at about 2/3 depth. */
    public static Settings paper(int modelLayers) {
        return new Settings(allEmotions(), 100, 12, 1, "Write the stories now.", 600, 0.8f, 40, 0.95f, 1, "f16",
                NeutralTopics.all().size(), 2, 800,
                50, allLayers(modelLayers), 0.5,
                defaultLayer(modelLayers), "header-end", "none", 10, 32, 100, 1000,
                35, List.of("blissful", "hostile"), 0.5);
    }

    /** The embedded tiny model's demo: every stage in minutes on a laptop CPU (its vectors mean nothing). */
    public static Settings demo(int modelLayers) {
        Settings p = paper(modelLayers);
        return p.with(Map.of("emotions", screeningEmotions(30), "topics", 2, "storiesPerTopic", 2, "storyMaxTokens", 72,
                "dialogueMaxTokens", 72, "neutralTopics", 8, "steerTop", 6));
    }

    /** About 2/3 of the way through the model: 21 of 32 for Llama 3.1 8B. */
    public static int defaultLayer(int modelLayers) { return modelLayers * 2 / 3; }

    /** Every layer but the last block (where llama.cpp keeps only the rows whose logits are read). */
    public static List<Integer> allLayers(int modelLayers) {
        List<Integer> all = new ArrayList<>();
        for (int l = 0; l < modelLayers - 1; l++) all.add(l);
        return all;
    }

    public static List<String> allEmotions() {
        return PaperData.emotions().stream().map(PaperData.Emotion::word).toList();
    }

    /**
     * n emotions for screening runs: the checks' key emotions first, then every k-th of the paper's list (which
     * is ordered by cluster), so that every cluster is represented.
     */
    public static List<String> screeningEmotions(int n) {
        List<String> all = allEmotions();
        if (n >= all.size()) return all;
        LinkedHashSet<String> out = new LinkedHashSet<>();
        for (String e : KEY_EMOTIONS) if (out.size() < n) out.add(e);
        double step = (double) all.size() / n;
        for (double i = 0; out.size() < n && i < all.size(); i += step) out.add(all.get((int) i));
        for (String e : all) if (out.size() < n) out.add(e);
        return List.copyOf(out);
    }

    /** The stories' KV cache ({@link GeneratorOptions.KvCache}), as --kv-cache names it. */
    public GeneratorOptions.KvCache storyCache() { return GeneratorOptions.KvCache.of(storyKvCache); }

    /** A copy with some fields changed, by name (e.g. from command-line options). */
    public Settings with(Map<String, Object> changes) {
        Map<String, Object> m = asMap();
        for (String k : changes.keySet()) if (!m.containsKey(k)) throw new IllegalArgumentException("no setting named " + k);
        m.putAll(changes);
        try {
            return Json.MAPPER.convertValue(m, Settings.class);
        } catch (IllegalArgumentException e) {
            for (Throwable t = e; t != null; t = t.getCause()) if (t instanceof EmovecException ee) throw ee;
            throw e;
        }
    }

    /** The stage whose outputs a setting changes: "stories", "extract" or "validate". */
    public static String stageOf(String field) {
        return switch (field) {
            case "emotions", "topics", "storiesPerTopic", "storiesPerCall", "storyUserTurn", "storyMaxTokens", "temperature", "topK",
                 "topP", "seed", "storyKvCache", "neutralTopics", "dialoguesPerTopic", "dialogueMaxTokens" -> "stories";
            case "fromToken", "layers", "pcaVariance" -> "extract";
            default -> "validate";
        };
    }

    /** Each field's value by name, in declaration order (for manifests and the report). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> asMap() {
        return Json.MAPPER.convertValue(this, LinkedHashMap.class);
    }
}
