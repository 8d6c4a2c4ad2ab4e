package org.emovec.pipeline;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.emovec.engine.BatchGenerator;
import org.emovec.engine.ChatMessage;
import org.emovec.engine.EmovecException;
import org.emovec.engine.GenerationRequest;
import org.emovec.engine.GenerationResult;
import org.emovec.engine.GeneratorOptions;
import org.emovec.engine.Model;
import org.emovec.engine.Sampling;
import org.emovec.engine.Seeds;
import org.emovec.engine.Sizing;
import org.emovec.io.AtomicFiles;
import org.emovec.io.Journal;
import org.emovec.paperdata.PaperData;

/**
 * Stage 1: the corpus. For every (emotion, topic, call) the paper's story prompt (the system message, verbatim,
 * with its slots filled) and a short user turn are generated with a seed derived from those three, so any call
 * regenerates alone and the corpus does not depend on batch size or order; a call asks for storiesPerCall
 * stories, split at "&lt;NEW STORY&gt;". The neutral dialogues (the paper's prompt, emovec's neutral topics) are
 * generated alike. Finished calls are appended to a journal as they finish; a killed run loses only the calls
 * in flight, and the stage ends by writing each emotion's stories sorted, so the files are the same whatever
 * happened on the way.
 */
public final class Stories {
    static final String STORY_SPLIT = "<NEW STORY>";
    static final String DIALOGUE_SPLIT = "<NEW DIALOGUE>";
    static final String NEUTRAL = "neutral";
    static final String DIALOGUE_USER_TURN = "Write the dialogues now.";

    /** One text of the corpus: a story (emotion set) or a neutral dialogue (emotion "neutral"). */
    public record Story(String id, String emotion, int topic, int index, String stop, String text) {}

    /** One generation call: its id (emotion/topic/call), prompt and seed. */
    record Call(String id, String emotion, int topic, int call, int stories, List<ChatMessage> messages, int maxTokens, long seed) {}

    /** Journal line: a finished call. */
    record Done(String id, String stop, int newTokens, String text) {}

    private Stories() {}

    static List<Call> calls(Settings s) {
        List<Call> calls = new ArrayList<>();
        List<String> topics = PaperData.topics();
        String prompt = PaperData.storyPrompt();
        for (String e : s.emotions()) {
            for (int t = 0; t < s.topics(); t++) {
                for (int c = 0; c < s.storiesPerTopic() / s.storiesPerCall(); c++) {
                    String system = prompt.replace("{n_stories}", Integer.toString(s.storiesPerCall())).replace("{topic}", topics.get(t)).replace("{emotion}", e);
                    calls.add(call(s, e + "/" + t + "/" + c, e, t, c, s.storiesPerCall(), system, s.storyUserTurn(), s.storyMaxTokens() * s.storiesPerCall()));
                }
            }
        }
        List<String> neutral = NeutralTopics.all();
        String dialogues = PaperData.neutralDialoguesPrompt();
        for (int t = 0; t < s.neutralTopics(); t++) {
            String system = dialogues.replace("{n_stories}", Integer.toString(s.dialoguesPerTopic())).replace("{topic}", neutral.get(t));
            calls.add(call(s, NEUTRAL + "/" + t + "/0", NEUTRAL, t, 0, s.dialoguesPerTopic(), system, DIALOGUE_USER_TURN, s.dialogueMaxTokens() * s.dialoguesPerTopic()));
        }
        return calls;
    }

    private static Call call(Settings s, String id, String emotion, int topic, int call, int n, String system, String user, int maxTokens) {
        return new Call(id, emotion, topic, call, n, List.of(ChatMessage.system(system), ChatMessage.user(user)), maxTokens, Seeds.of(s.seed(), id));
    }

    public static boolean complete(RunDir dir) { return Files.exists(dir.stories().resolve("complete.json")); }

    /** Generates what is missing and writes the final files; returns at once when the stage is complete. */
    public static void run(RunDir dir, Model model, Settings s, Sizing sizing, boolean quiet) throws IOException {
        if (complete(dir)) return;
        Files.createDirectories(dir.stories());
        Path journal = dir.stories().resolve("journal.jsonl");
        Map<String, Done> done = readJournal(journal);
        List<Call> all = calls(s), todo = new ArrayList<>();
        for (Call c : all) if (!done.containsKey(c.id())) todo.add(c);
        if (!todo.isEmpty()) {
            System.err.printf("emovec stories: %d generation calls (%d done before), up to %d in parallel%s%n", all.size(), done.size(), sizing.parallel(),
                    sizing.plan() != null ? " (fewer where the budget says: each pass below)" : "");
            long t0 = System.nanoTime();
            try (Progress bar = new Progress("stories", all.size(), done.size(), "calls", quiet)) {
                // stories and dialogues apart: each pass sizes its per-sequence context to its own longest call
                generate(model, todo.stream().filter(c -> !c.emotion().equals(NEUTRAL)).toList(), s, sizing, journal, bar);
                generate(model, todo.stream().filter(c -> c.emotion().equals(NEUTRAL)).toList(), s, sizing, journal, bar);
            }
            done = readJournal(journal);
            dir.recordTime("stories", (System.nanoTime() - t0) / 1e9, all.size() - todo.size());
        }
        finish(dir, s, all, done);
    }

    private static void generate(Model model, List<Call> calls, Settings s, Sizing sizing, Path journal, Progress bar) throws IOException {
        if (calls.isEmpty()) return;
        List<GenerationRequest> requests = requests(model, calls, s);
        GeneratorOptions options = sizing.withStoryCache(s.storyCache()).generator(contextPerSequence(requests), calls.size()).forRequests(requests);
        if (sizing.plan() != null && options.kvCache() == GeneratorOptions.KvCache.F16 && GeneratorOptions.KvCache.Q8_0.holds(model.headDim())) {
            // Within a small budget a step's time grows much slower than its batch (H100, Q4_K_M, 6G: 5 sequences
            // 6.8 ms, 10 with q8_0 10.0 ms; stories 1.36x, and 1.16x at 8G): worth saying where the choice is made.
            int q8 = sizing.withStoryCache(GeneratorOptions.KvCache.Q8_0).generator(contextPerSequence(requests), calls.size()).parallel();
            if (q8 > options.parallel()) System.err.printf("emovec stories: %d sequences at once fit the budget; --kv-cache q8_0 would fit %d (faster on a small"
                    + " budget; the stories change by its rounding)%n", options.parallel(), q8);
        }
        long t0 = System.nanoTime();
        long[] tokens = {0};
        int contexts;
        try (BatchGenerator gen = new BatchGenerator(model, options);
             Writer w = Files.newBufferedWriter(journal, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            contexts = gen.lanes();
            gen.run(requests.iterator(), new BatchGenerator.Listener() {
                @Override
                public void finished(GenerationResult r) {
                    try {
                        w.write(Json.line(new Done(r.id(), r.stop(), r.tokens().length, r.text())));
                        w.write('\n');
                        w.flush(); // a killed run keeps every finished call
                    } catch (IOException e) {
                        throw EmovecException.cannotWrite(journal, e);
                    }
                    bar.step(1);
                }

                @Override
                public void step(int newTokens, int active) {
                    tokens[0] += newTokens;
                    bar.message(String.format("%.0f tok/s, %d active", tokens[0] / ((System.nanoTime() - t0) / 1e9), active));
                }
            });
        }
        System.err.printf("emovec stories: %d calls, %d new tokens in %.1f s (%.0f tok/s; %d at once x %d %s)%n", calls.size(), tokens[0],
                (System.nanoTime() - t0) / 1e9, tokens[0] / ((System.nanoTime() - t0) / 1e9), options.parallel(), contexts, contexts == 1 ? "context" : "contexts");
    }

    /** The calls as generation requests: chat-templated, tokenized, each with its own seed. */
    static List<GenerationRequest> requests(Model model, List<Call> calls, Settings s) {
        List<GenerationRequest> requests = new ArrayList<>();
        for (Call c : calls) {
            int[] prompt = model.tokenize(model.applyChatTemplate(c.messages(), true), true, true);
            requests.add(new GenerationRequest(c.id(), prompt, new Sampling(s.temperature(), s.topK(), s.topP(), c.seed()), c.maxTokens()));
        }
        return requests;
    }

    /** Context one sequence needs: the longest prompt plus the most new tokens (and a little slack). */
    static int contextPerSequence(List<GenerationRequest> requests) {
        int longest = 0, maxNew = 0;
        for (GenerationRequest r : requests) {
            longest = Math.max(longest, r.prompt().length);
            maxNew = Math.max(maxNew, r.maxNewTokens());
        }
        return longest + maxNew + 8;
    }

    /** Splits every call into its stories and writes one sorted file per emotion, then the completion record. */
    private static void finish(RunDir dir, Settings s, List<Call> all, Map<String, Done> done) throws IOException {
        Map<String, List<Story>> byEmotion = new LinkedHashMap<>();
        Map<String, Integer> stops = new TreeMap<>();
        int missing = 0;
        for (Call c : all) {
            Done d = done.get(c.id());
            if (d == null) throw new IllegalStateException("call " + c.id() + " never finished");
            stops.merge(d.stop(), 1, Integer::sum);
            List<String> pieces = split(d.text(), c.emotion().equals(NEUTRAL) ? DIALOGUE_SPLIT : STORY_SPLIT, c.stories());
            missing += c.stories() - pieces.size();
            List<Story> list = byEmotion.computeIfAbsent(c.emotion(), k -> new ArrayList<>());
            for (int j = 0; j < pieces.size(); j++) {
                int index = c.call() * c.stories() + j;
                list.add(new Story(c.emotion() + "/" + c.topic() + "/" + index, c.emotion(), c.topic(), index, d.stop(), pieces.get(j)));
            }
        }
        int stories = 0;
        for (var e : byEmotion.entrySet()) {
            List<Story> list = new ArrayList<>(e.getValue());
            list.sort(Comparator.comparingInt(Story::topic).thenComparingInt(Story::index));
            StringBuilder sb = new StringBuilder();
            for (Story st : list) sb.append(Json.line(st)).append('\n');
            AtomicFiles.writeString(file(dir, e.getKey()), sb.toString());
            if (!e.getKey().equals(NEUTRAL)) stories += list.size();
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("calls", all.size());
        summary.put("stories", stories);
        summary.put("dialogues", byEmotion.getOrDefault(NEUTRAL, List.of()).size());
        summary.put("texts_missing", missing);
        summary.put("stops", stops);
        Json.write(dir.stories().resolve("complete.json"), summary);
        Files.deleteIfExists(dir.stories().resolve("journal.jsonl"));
    }

    /**
     * The texts of one call: what follows each marker, trimmed, empty ones dropped; text with no marker is
     * one text. At most n (a model that writes more than asked for keeps the first n).
     */
    static List<String> split(String text, String marker, int n) {
        List<String> out = new ArrayList<>();
        for (String piece : text.split(java.util.regex.Pattern.quote(marker), -1)) {
            String t = piece.strip();
            if (!t.isEmpty() && out.size() < n) out.add(t);
        }
        return out;
    }

    static Path file(RunDir dir, String emotion) { return dir.stories().resolve(RunDir.fileName(emotion) + ".jsonl"); }

    /** The finished stories of one emotion (or the neutral dialogues), in (topic, index) order. */
    public static List<Story> read(RunDir dir, String emotion) throws IOException {
        Path f = file(dir, emotion);
        if (!complete(dir) || !Files.exists(f)) throw new EmovecException(f + " is missing: run 'emovec stories' on " + dir.root() + " first");
        List<Story> out = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            for (String line; (line = r.readLine()) != null; ) if (!line.isBlank()) out.add(Json.MAPPER.readValue(line, Story.class));
        }
        return out;
    }

    /** The finished calls of the journal (see {@link Journal}). */
    private static Map<String, Done> readJournal(Path journal) throws IOException {
        Map<String, Done> done = new HashMap<>();
        for (String line : Journal.lines(journal)) {
            Done d = Json.MAPPER.readValue(line, Done.class);
            done.putIfAbsent(d.id(), d);
        }
        return done;
    }
}
