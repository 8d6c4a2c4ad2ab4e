package org.emovec.cli;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

import org.emovec.engine.EmovecException;
import org.emovec.engine.Model;
import org.emovec.engine.Sizing;
import org.emovec.model.DefaultModel;
import org.emovec.pipeline.RunDir;
import org.emovec.pipeline.Settings;
import org.emovec.pipeline.Validate;

import picocli.CommandLine.Option;

/**
 * The options every pipeline command shares. A method option left out keeps the run's recorded value (its
 * manifest), or for a new run the default: the paper's scale on a given model, a small demo scale on the
 * embedded tiny model. Layers: emovec layer L = residual after block L = llama.cpp l_out-L = HF hidden_states[L+1].
 */
final class RunOptions {
    @Option(names = {"-m", "--model"}, description = "GGUF model (default: the run's model, or the embedded tiny random model)")
    Path model;

    @Option(names = {"-o", "--out"}, defaultValue = "out/run", description = "run directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--emotions", description = "how many of the 171 emotions (a screening subset that keeps the checks' key emotions), a comma list of words, or @FILE (one per line)")
    String emotions;

    @Option(names = "--topics", description = "story topics per emotion, 1..100 (paper: 100)")
    Integer topics;

    @Option(names = "--stories", description = "stories per topic and emotion (paper: 12)")
    Integer stories;

    @Option(names = "--stories-per-call", description = "stories asked for in one generation call (default 1: each story has its own seed)")
    Integer storiesPerCall;

    @Option(names = "--story-max-tokens", description = "new tokens per story at most (default 600)")
    Integer storyMaxTokens;

    @Option(names = "--kv-cache", description = "story generation's KV cache: f16 (default) or q8_0 (half the memory, so twice the sequences"
            + " within --vram-budget: on an H100 with Q4_K_M 1.16x f16's stories at 8G, 1.36x at 6G, but 0.6x with no budget; the stories"
            + " change by its rounding). Extraction and the checks always use f16")
    String kvCache;

    @Option(names = "--neutral-topics", description = "neutral dialogue topics, 2..40 (default 40)")
    Integer neutralTopics;

    @Option(names = "--seed", description = "base seed of stories, Elo orders and random controls (default 1)")
    Long seed;

    @Option(names = "--layers", description = "layers extracted: all (every block but the last), or a list like 10-25 (default all)")
    String layers;

    @Option(names = "--layer", description = "layer the checks and the report use (default 2/3 of the depth: 21 of 32)")
    Integer layer;

    @Option(names = "--from-token", description = "average a story's residual from this token on (paper: 50)")
    Integer fromToken;

    @Option(names = "--pca-variance", description = "share of the neutral dialogues' variance whose components are projected out (paper: 0.5)")
    Double pcaVariance;

    @Option(names = "--read-at", description = "probe token before the reply: header-end (last prompt token) or header")
    String readAt;

    @Option(names = "--scenario-centering", description = "implicit scenarios: none (plain cosine, the paper) or columns (centre each emotion across scenarios)")
    String scenarioCentering;

    @Option(names = "--steer-top", description = "steer the top N emotions by |r| (paper: 35) plus blissful and hostile")
    Integer steerTop;

    @Option(names = "--alpha-norm", description = "steering strength as a multiple of the mean residual norm at the layer (paper: 0.5)")
    Double alphaNorm;

    @Option(names = "--parallel", defaultValue = "64", description = "sequences decoded together, 1..256 (default: ${DEFAULT-VALUE})")
    int parallel;

    @Option(names = "--gpu-layers", defaultValue = "-1", description = "layers on the GPU, -1 = all (default: ${DEFAULT-VALUE})")
    int gpuLayers;

    @Option(names = "--lanes", defaultValue = "0", description = "llama.cpp contexts of --parallel sequences that story generation steps in turn,"
            + " each with its own KV cache (0, the default: two on a GPU, one on a CPU or within --vram-budget)")
    int lanes;

    @Option(names = "--vram-budget", description = "keep peak device memory under this (e.g. 8G): sequences, scoring batch and micro-batch are"
            + " chosen to fit, all layers on the GPU; refused if the model cannot fit at all")
    String vramBudget;

    @Option(names = "--fresh", description = "discard an existing run in --out and start over")
    boolean fresh;

    @Option(names = "--quiet", description = "no progress bars")
    boolean quiet;

    @Option(names = "--debug", description = "print stack traces of failures")
    boolean debug;

    /** An open run: its directory, the loaded model, the settings in force, and the stages' sizes (--parallel, --vram-budget). */
    record Run(RunDir dir, Model model, Settings settings, Sizing sizing) implements AutoCloseable {
        @Override
        public void close() { model.close(); }
    }

    Run open() throws IOException {
        RunDir dir = new RunDir(out);
        RunDir.Manifest old = !fresh && dir.hasManifest() ? dir.manifest() : null;
        Path modelPath = model != null ? model : old != null ? Path.of(old.model()) : DefaultModel.tiny();
        boolean tiny = model == null && old == null;
        Sizing sizing = Sizing.of(parallel, modelPath, vramBudget).withLanes(lanes);
        if (sizing.plan() != null) System.err.println("emovec: " + sizing.plan().describe());
        Model m = Model.load(modelPath, gpuLayers);
        try {
            Settings base = old != null ? old.settings() : tiny ? Settings.demo(m.layers()) : Settings.paper(m.layers());
            Settings s = base.with(overrides(m.layers()));
            if (s.layer() < 0 || s.layer() >= m.layers() - 1) {
                throw new EmovecException("--layer " + s.layer() + " is out of range: this model's layers are 0.." + (m.layers() - 2) + " (the last block cannot be averaged)");
            }
            if (!s.layers().contains(s.layer())) throw new EmovecException("--layer " + s.layer() + " is not among the extracted --layers " + s.layers());
            Validate.preflight(m);
            dir.open(modelPath, s, fresh);
            return new Run(dir, m, s, sizing);
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private Map<String, Object> overrides(int modelLayers) {
        Map<String, Object> o = new LinkedHashMap<>();
        if (emotions != null) o.put("emotions", emotionList(emotions));
        if (topics != null) o.put("topics", topics);
        if (stories != null) o.put("storiesPerTopic", stories);
        if (storiesPerCall != null) o.put("storiesPerCall", storiesPerCall);
        if (storyMaxTokens != null) o.put("storyMaxTokens", storyMaxTokens);
        if (kvCache != null) o.put("storyKvCache", kvCache);
        if (neutralTopics != null) o.put("neutralTopics", neutralTopics);
        if (seed != null) o.put("seed", seed);
        if (layers != null) o.put("layers", layers.equals("all") ? Settings.allLayers(modelLayers) : toList(CaptureCommand.parseLayers(layers, modelLayers)));
        if (layer != null) o.put("layer", layer);
        if (fromToken != null) o.put("fromToken", fromToken);
        if (pcaVariance != null) o.put("pcaVariance", pcaVariance);
        if (readAt != null) o.put("readAt", readAt);
        if (scenarioCentering != null) o.put("scenarioCentering", scenarioCentering);
        if (steerTop != null) o.put("steerTop", steerTop);
        if (alphaNorm != null) o.put("steerAlphaNorm", alphaNorm);
        return o;
    }

    /** --emotions: a count (screening subset), a comma list, or @FILE with one emotion per line (# comments). */
    static List<String> emotionList(String spec) {
        if (spec.matches("\\d+")) return Settings.screeningEmotions(Integer.parseInt(spec));
        if (!spec.startsWith("@")) return Arrays.stream(spec.split(",")).map(String::strip).toList();
        Path file = Path.of(spec.substring(1));
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new EmovecException(file + ": no such emotion list: give a file with one emotion per line after --emotions @");
        } catch (CharacterCodingException e) {
            throw new EmovecException(file + ": not UTF-8 text: an emotion list is one emotion word per line");
        } catch (IOException e) {
            throw new EmovecException(file + ": cannot read the emotion list (" + e.getMessage() + ")");
        }
        Set<String> known = new HashSet<>(Settings.allEmotions());
        List<String> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String w = lines.get(i).strip();
            if (w.isEmpty() || w.startsWith("#")) continue;
            if (!known.contains(w)) throw new EmovecException(file + " line " + (i + 1) + ": '" + w + "' is not one of the paper's 171 emotions (one word per line, as in paperdata/emotions.tsv)");
            out.add(w);
        }
        if (out.isEmpty()) throw new EmovecException(file + ": no emotions in it: write one of the paper's 171 emotions per line");
        return out;
    }

    private static List<Integer> toList(int[] a) {
        List<Integer> l = new ArrayList<>();
        for (int x : a) l.add(x);
        return l;
    }
}
