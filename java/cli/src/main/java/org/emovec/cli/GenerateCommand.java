package org.emovec.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

import org.emovec.engine.BatchGenerator;
import org.emovec.engine.ChatMessage;
import org.emovec.engine.EmovecException;
import org.emovec.engine.GenerationRequest;
import org.emovec.engine.GenerationResult;
import org.emovec.engine.GeneratorOptions;
import org.emovec.engine.Model;
import org.emovec.engine.Sampling;
import org.emovec.engine.Seeds;
import org.emovec.io.Journal;
import org.emovec.pipeline.Progress;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Generate completions for many prompts at once (continuous batching), streaming each result to a JSONL file as it finishes.",
                "Prompts file: one JSON object a line with \"id\" and \"prompt\" (a user message, put through the model's chat template),",
                "or \"messages\" ([{\"role\",\"content\"}...]), or \"text\" (raw, no template); optional \"system\", \"seed\", \"max_tokens\".",
                "Rerun with the same --out to resume: finished ids are kept and skipped."})
final class GenerateCommand implements Callable<Integer> {
    @Mixin ModelOptions modelOptions;

    @Spec CommandSpec spec;

    @Option(names = {"-p", "--prompts"}, description = "prompts JSONL (default: a few built-in demo prompts)")
    Path prompts;

    @Option(names = {"-o", "--out"}, defaultValue = "out/generate.jsonl", description = "results JSONL (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--parallel", defaultValue = "64", description = "sequences decoded together, 1..256 (default: ${DEFAULT-VALUE})")
    int parallel;

    @Option(names = "--ctx", defaultValue = "1024", description = "context per sequence, prompt + new tokens (default: ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = "--max-tokens", defaultValue = "256", description = "new tokens per sequence at most (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", description = "sampling temperature, 0 = greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--top-k", defaultValue = "40", description = "keep the k most likely tokens, 0 = all (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "nucleus sampling mass, 1 = off (default: ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--seed", defaultValue = "1", description = "base seed; each prompt's seed derives from it and the prompt id (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--threads", defaultValue = "0", description = "CPU threads, 0 = all cores (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--batch", defaultValue = "2048", description = "tokens per llama_decode call, at least --parallel (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--sampler", defaultValue = "HOST", description = "host (emovec's native sampler) or backend (llama.cpp's on-device chains) (default: ${DEFAULT-VALUE})")
    GeneratorOptions.Sampler sampler;

    @Option(names = "--lanes", defaultValue = "0", description = "llama.cpp contexts of --parallel sequences each, stepped in turn (each holds"
            + " its own KV cache); 0, the default: two on a GPU, one on CPU")
    int lanes;

    @Option(names = "--seqs-per-stream", defaultValue = "0", description = "sequences that share one KV stream, which attention reads once for"
            + " them all and in which a shared prompt is stored once (must divide --parallel; 1: llama.cpp's stream per sequence); 0,"
            + " the default: 16 on a GPU where some prompt repeats, shared in an f16 KV cache, and 16 divides --parallel, else 1 (see README)")
    int seqsPerStream;

    @Option(names = "--kv-cache", defaultValue = "f16", description = "KV cache: f16 or q8_0 (half the memory; tokens change by its rounding) (default: ${DEFAULT-VALUE})")
    String kvCache;

    @Option(names = "--ignore-eog", description = "keep generating past end-of-turn tokens (throughput runs of exact length)")
    boolean ignoreEog;

    @Option(names = "--stats", description = "also write timing figures as JSON to this file")
    Path statsFile;

    @Option(names = "--quiet", description = "no progress bar")
    boolean quiet;

    @Option(names = "--debug", description = "print stack traces of failures")
    boolean debug;

    private final ObjectMapper json = new ObjectMapper()
            .setVisibility(com.fasterxml.jackson.annotation.PropertyAccessor.FIELD, com.fasterxml.jackson.annotation.JsonAutoDetect.Visibility.PUBLIC_ONLY);
    private BatchGenerator.Stats stats;
    private int lanesUsed, seqsPerStreamUsed;

    @Override
    public Integer call() throws Exception {
        GeneratorOptions options = new GeneratorOptions(parallel, ctx, batch, threads, ignoreEog, sampler).withLanes(lanes)
                .withKvCache(GeneratorOptions.KvCache.of(kvCache)).withSeqsPerStream(seqsPerStream);
        if (maxTokens < 1) throw new ParameterException(spec.commandLine(), "--max-tokens must be at least 1");
        Path modelPath = modelOptions.path();
        List<JsonNode> lines = readPrompts();
        Set<String> done = resume(out);
        long t0 = System.nanoTime();
        try (Model m = Model.load(modelPath, modelOptions.gpuLayers)) {
            List<GenerationRequest> todo = new ArrayList<>();
            for (JsonNode p : lines) {
                String id = p.get("id").asText();
                if (done.contains(id)) continue;
                long s = p.has("seed") ? p.get("seed").asLong() : Seeds.of(seed, id);
                int max = p.has("max_tokens") ? p.get("max_tokens").asInt() : maxTokens;
                todo.add(new GenerationRequest(id, promptTokens(m, p), new Sampling(temperature, topK, topP, s), max));
            }
            System.err.printf("emovec: %s, %d prompts (%d already done), %d in parallel%n", modelPath.getFileName(), lines.size(), done.size(), parallel);
            long loaded = System.nanoTime();
            long[] newTokens = {0};
            int[] finished = {0};
            try (BatchGenerator gen = new BatchGenerator(m, options.forRequests(todo));
                 Writer w = Files.newBufferedWriter(out, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                 Progress bar = new Progress("generate", todo.size(), 0, "sequences", quiet)) {
                stats = gen.stats();
                lanesUsed = gen.lanes();
                seqsPerStreamUsed = gen.seqsPerStream();
                if (gen.lanes() > 1) System.err.printf("emovec: %d contexts of %d sequences, stepped in turn%n", gen.lanes(), parallel);
                gen.run(todo.iterator(), new BatchGenerator.Listener() {
                    @Override
                    public void finished(GenerationResult r) {
                        try {
                            w.write(json.writeValueAsString(toJson(r)));
                            w.write('\n');
                            w.flush(); // a killed run keeps every finished sequence
                        } catch (IOException e) {
                            throw EmovecException.cannotWrite(out, e);
                        }
                        finished[0]++;
                        bar.step(1);
                    }

                    @Override
                    public void step(int tokens, int active) {
                        newTokens[0] += tokens;
                        double s = (System.nanoTime() - loaded) / 1e9;
                        bar.message(String.format("%.0f tok/s, %d active", newTokens[0] / s, active));
                    }
                });
            }
            double secs = (System.nanoTime() - loaded) / 1e9;
            System.err.printf("emovec: %d sequences, %d new tokens in %.2f s: %.1f tok/s overall, %.1f tok/s in decode-only steps"
                            + " (load %.2f s, sampling %.2f s) -> %s%n", finished[0], newTokens[0], secs, newTokens[0] / secs,
                    stats.decodeOnlyTokensPerSecond(), (loaded - t0) / 1e9, stats.sampleNanos / 1e9, out);
            if (statsFile != null) {
                ObjectNode o = json.valueToTree(stats);
                o.put("sequences", finished[0]);
                o.put("parallel", parallel);
                o.put("lanes", lanesUsed);
                o.put("seqs_per_stream", seqsPerStreamUsed);
                o.put("kv_cache", kvCache);
                o.put("load_seconds", (loaded - t0) / 1e9);
                o.put("wall_seconds", secs);
                o.put("overall_tokens_per_second", newTokens[0] / secs);
                o.put("decode_only_tokens_per_second", stats.decodeOnlyTokensPerSecond());
                Files.writeString(statsFile, json.writerWithDefaultPrettyPrinter().writeValueAsString(o));
            }
        }
        return 0;
    }

    private int[] promptTokens(Model m, JsonNode p) {
        if (p.has("text")) return m.tokenize(p.get("text").asText(), true, true);
        List<ChatMessage> msgs = new ArrayList<>();
        if (p.has("messages")) {
            for (JsonNode msg : p.get("messages")) msgs.add(new ChatMessage(msg.get("role").asText(), msg.get("content").asText()));
        } else {
            if (p.has("system")) msgs.add(ChatMessage.system(p.get("system").asText()));
            msgs.add(ChatMessage.user(p.get("prompt").asText()));
        }
        // llama.cpp's template renderer leaves <|begin_of_text|> to the tokenizer: add_special adds it.
        return m.tokenize(m.applyChatTemplate(msgs, true), true, true);
    }

    private ObjectNode toJson(GenerationResult r) {
        ObjectNode o = json.createObjectNode();
        o.put("id", r.id());
        o.put("prompt_tokens", r.promptTokens());
        o.put("new_tokens", r.tokens().length);
        o.put("stop", r.stop());
        o.put("text", r.text());
        var arr = o.putArray("tokens");
        for (int t : r.tokens()) arr.add(t);
        return o;
    }

    private List<JsonNode> readPrompts() throws IOException {
        List<JsonNode> list = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        String source = prompts == null ? "built-in demo prompts" : prompts.toString();
        if (prompts != null && !Files.isRegularFile(prompts)) throw new EmovecException(prompts + ": no such prompts file (give a JSONL file, one {\"id\",\"prompt\"} object a line)");
        try (InputStream in = prompts == null ? GenerateCommand.class.getResourceAsStream("demo-prompts.jsonl") : Files.newInputStream(prompts);
             BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (PromptsFile.Line line : PromptsFile.read(r, source)) {
                JsonNode node = line.node();
                int n = line.number();
                if (!node.isObject() || !node.hasNonNull("id")) throw new EmovecException(source + " line " + n + ": needs an \"id\"");
                if (!node.has("prompt") && !node.has("messages") && !node.has("text")) throw new EmovecException(source + " line " + n + ": needs \"prompt\", \"messages\" or \"text\"");
                if (!ids.add(node.get("id").asText())) throw new EmovecException(source + " line " + n + ": id '" + node.get("id").asText() + "' appears twice");
                list.add(node);
            }
        }
        return list;
    }

    /** Ids already in the output file (a {@link Journal}). */
    private Set<String> resume(Path file) throws IOException {
        Set<String> ids = new HashSet<>();
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        if (!Files.isWritable(parent)) throw new EmovecException(parent + ": output directory is not writable: choose another --out");
        if (!Files.isRegularFile(file)) return ids; // new, or a device or pipe (/dev/stdout): nothing to resume
        for (String line : Journal.lines(file)) ids.add(json.readTree(line).get("id").asText());
        return ids;
    }

}
