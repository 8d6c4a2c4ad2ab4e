package org.emovec.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

import org.emovec.engine.CaptureRequest;
import org.emovec.engine.EmovecException;
import org.emovec.engine.Model;
import org.emovec.engine.PromptScorer;
import org.emovec.engine.ScoreRequest;
import org.emovec.engine.ScoreResult;
import org.emovec.engine.ScorerOptions;
import org.emovec.engine.Span;
import org.emovec.engine.Steering;
import org.emovec.io.AtomicFiles;
import org.emovec.io.Npy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(name = "capture", mixinStandardHelpOptions = true,
        description = {"Run prompts through the model and save their residual stream (and logits) as NumPy .npy files, optionally steered.",
                "Layer L means the residual after block L: llama.cpp tensor l_out-L, HF transformers hidden_states[L+1].",
                "Prompts file: one JSON object a line with \"id\" and \"text\" (raw text, BOS added); optional \"steer_text\": the part",
                "of the text to steer (its tokens); without it --steer covers the whole prompt.",
                "Writes DIR/residual-L<L>.npy (rows: one per token of every prompt, in order; mean: one per prompt), DIR/logits.npy",
                "(with --logits), DIR/capture.json (model, layers, convention, spans, row offsets)."})
final class CaptureCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;

    @Spec CommandSpec spec;

    @Option(names = {"-p", "--prompts"}, required = true, description = "prompts JSONL")
    Path prompts;

    @Option(names = {"-o", "--out"}, required = true, description = "output folder")
    Path out;

    @Option(names = "--layers", defaultValue = "all", description = {"layers to capture: all, or a list like 0,5,10-20 (default: ${DEFAULT-VALUE});",
            "the last block's rows cost every position's logits (llama.cpp keeps only the rows whose logits are read there)"})
    String layers;

    @Option(names = "--reduce", defaultValue = "rows", description = "rows (every token) or mean (one row per prompt) (default: ${DEFAULT-VALUE})")
    CaptureRequest.Reduction reduce;

    @Option(names = "--from", defaultValue = "0", description = "first token position captured (the paper averages from 50) (default: ${DEFAULT-VALUE})")
    int from;

    @Option(names = "--logits", defaultValue = "none", description = "none, last (after each prompt) or all (every position) (default: ${DEFAULT-VALUE})")
    String logits;

    @Option(names = "--steer", description = "steering vector .npy (d_model floats)")
    Path steer;

    @Option(names = "--steer-layer", description = "layer whose output the vector is added to")
    Integer steerLayer;

    @Option(names = "--alpha", defaultValue = "1", description = "added = alpha x vector (default: ${DEFAULT-VALUE})")
    double alpha;

    @Option(names = "--alpha-norm", description = "instead of --alpha: added = this x mean residual norm at the layer x vector (the paper: 0.5)")
    Double alphaNorm;

    @Option(names = "--sequences", defaultValue = "32", description = "prompts per llama_decode (default: ${DEFAULT-VALUE})")
    int sequences;

    @Option(names = "--batch", defaultValue = "4096", description = "tokens per llama_decode (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--ubatch", defaultValue = "512", description = "tokens per llama.cpp micro-batch (default: ${DEFAULT-VALUE})")
    int ubatch;

    @Option(names = "--exact-f32", description = "F32 KV cache and no flash attention (reference comparisons)")
    boolean exactF32;

    @Option(names = "--debug", description = "print stack traces")
    boolean debug;

    record Prompt(String id, String text, String steerText) {}

    @Override
    public Integer call() throws IOException {
        if ((steer == null) != (steerLayer == null)) throw new ParameterException(spec.commandLine(), "--steer and --steer-layer go together");
        if (!List.of("none", "last", "all").contains(logits)) throw new ParameterException(spec.commandLine(), "--logits must be none, last or all");
        List<Prompt> list = readPrompts(prompts);
        Path modelPath = modelOptions.path();
        ObjectMapper json = new ObjectMapper();
        try (Model m = Model.load(modelPath, modelOptions.gpuLayers);
             PromptScorer scorer = new PromptScorer(m, ScorerOptions.defaults().withSequences(sequences).withBatch(batch, ubatch).withExactF32(exactF32))) {
            int[] layerList = parseLayers(layers, m.layers());
            float[] vector = null;
            double addAlpha = alpha;
            List<int[]> tokens = new ArrayList<>();
            for (Prompt p : list) tokens.add(m.tokenize(p.text(), true, false));
            if (steer != null) {
                float[][] v = Npy.read(steer);
                if (v.length != 1 || v[0].length != m.width()) throw new EmovecException(steer + ": expected " + m.width() + " floats, found " + v.length + " x " + v[0].length);
                vector = v[0];
                if (alphaNorm != null) addAlpha = alphaNorm * scorer.meanResidualNorm(tokens, steerLayer, 0);
            }
            List<ScoreRequest> requests = new ArrayList<>();
            int[] everyToken = IntStream.range(0, m.vocabSize()).toArray(); // --logits last: the whole row as candidates
            // After the last block llama.cpp keeps only the rows whose logits are read, so capturing that block reads
            // every position's logits (--logits last then keeps the last row of each prompt's)
            boolean everyRowOut = logits.equals("all") || Arrays.stream(layerList).anyMatch(l -> l == m.layers() - 1);
            ArrayNode index = json.createArrayNode();
            long row = 0;
            for (int i = 0; i < list.size(); i++) {
                Prompt p = list.get(i);
                int[] t = tokens.get(i);
                ScoreRequest r = ScoreRequest.of(p.id(), t).withCapture(new CaptureRequest(layerList, reduce, Span.from(from)));
                if (everyRowOut) r = r.withAllLogits();
                else if (logits.equals("last")) r = new ScoreRequest(r.id(), t, everyToken, false, r.capture(), List.of());
                ObjectNode entry = index.addObject().put("id", p.id()).put("tokens", t.length);
                entry.putPOJO("token_ids", t);
                if (vector != null) {
                    Span span = p.steerText() == null ? Span.all().clip(t.length) : m.spanOf(t, p.text(), p.steerText());
                    r = r.withSteering(List.of(new Steering(steerLayer, vector, addAlpha, span)));
                    entry.putArray("steer_span").add(span.from()).add(span.to());
                }
                int captured = reduce == CaptureRequest.Reduction.ROWS ? Math.max(0, t.length - from) : 1;
                entry.put("first_row", row).put("rows", captured);
                row += captured;
                requests.add(r);
            }
            List<ScoreResult> results = scorer.score(requests);
            for (int li = 0; li < layerList.length; li++) {
                List<float[]> rows = new ArrayList<>();
                for (ScoreResult r : results) {
                    if (reduce == CaptureRequest.Reduction.MEAN) rows.add(r.captured().means()[li]);
                    else for (float[][] at : r.captured().rows()) rows.add(at[li]);
                }
                Npy.write(out.resolve("residual-L" + layerList[li] + ".npy"), rows.toArray(new float[0][]));
            }
            if (!logits.equals("none")) {
                List<float[]> rows = new ArrayList<>();
                for (ScoreResult r : results) {
                    if (logits.equals("all")) rows.addAll(List.of(r.logits()));
                    else rows.add(everyRowOut ? r.logits()[r.logits().length - 1] : r.candidateLogits());
                }
                Npy.write(out.resolve("logits.npy"), rows.toArray(new float[0][]));
            }
            ObjectNode meta = json.createObjectNode();
            meta.put("model", modelPath.toAbsolutePath().toString()).put("model_description", m.description());
            meta.put("convention", "layer L = residual stream after block L = llama.cpp tensor l_out-L = HF hidden_states[L+1]");
            meta.putPOJO("layers", layerList);
            meta.put("reduce", reduce.name().toLowerCase()).put("from_position", from).put("logits", logits);
            if (vector != null) meta.put("steer_vector", steer.toString()).put("steer_layer", steerLayer).put("alpha", addAlpha);
            meta.set("prompts", index);
            AtomicFiles.writeString(out.resolve("capture.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(meta));
            System.err.printf("emovec: captured %d prompts at %d layers into %s%n", list.size(), layerList.length, out);
        }
        return 0;
    }

    static List<Prompt> readPrompts(Path file) throws IOException {
        List<Prompt> list = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (PromptsFile.Line line : PromptsFile.read(in, file.toString())) {
                JsonNode o = line.node();
                if (!o.hasNonNull("text")) throw new EmovecException(file + " line " + line.number() + ": needs a \"text\" field");
                list.add(new Prompt(o.path("id").asText("p" + line.number()), o.get("text").asText(),
                        o.hasNonNull("steer_text") ? o.get("steer_text").asText() : null));
            }
        }
        return list;
    }

    /** "all", or a list of layers and ranges such as "0,5,10-20". */
    static int[] parseLayers(String text, int modelLayers) {
        if (text.equals("all")) return IntStream.range(0, modelLayers).toArray();
        List<Integer> out = new ArrayList<>();
        for (String part : text.split(",")) {
            String[] ab = part.trim().split("-");
            try {
                int a = Integer.parseInt(ab[0].trim()), b = ab.length > 1 ? Integer.parseInt(ab[1].trim()) : a;
                for (int l = a; l <= b; l++) out.add(l);
            } catch (NumberFormatException e) {
                throw new EmovecException("--layers '" + text + "': write all, or numbers and ranges like 0,5,10-20");
            }
        }
        for (int l : out) Model.checkLayer(l, modelLayers);
        return out.stream().mapToInt(Integer::intValue).distinct().sorted().toArray();
    }
}
