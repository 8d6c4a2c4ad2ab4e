package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;

import org.emovec.model.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GenerationTest {
    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(TestModels.tiny(), 0);
    }

    @AfterAll
    static void free() {
        model.close();
    }

    private GenerationRequest request(String id, String text, long seed, int max) {
        return new GenerationRequest(id, model.tokenize(text, true, false), Sampling.defaults(seed), max);
    }

    private List<GenerationResult> run(int parallel, List<GenerationRequest> requests) {
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(parallel, 128))) {
            return g.generateAll(requests);
        }
    }

    @Test
    void sameSeedSameTokensOtherSeedOtherTokens() {
        GenerationRequest a = request("a", "Once upon a time", 42, 24);
        int[] first = run(1, List.of(a)).get(0).tokens();
        assertArrayEquals(first, run(1, List.of(a)).get(0).tokens());
        assertFalse(java.util.Arrays.equals(first, run(1, List.of(request("b", "Once upon a time", 43, 24))).get(0).tokens()));
    }

    @Test
    void aSequenceDoesNotDependOnWhatElseIsInTheBatch() {
        GenerationRequest probe = request("probe", "The weather today is", 7, 32);
        int[] alone = run(1, List.of(probe)).get(0).tokens();
        List<GenerationRequest> crowd = new ArrayList<>();
        for (int i = 0; i < 50; i++) crowd.add(request("other" + i, "Story number " + i + " begins with", 1000 + i, 10 + i % 30));
        crowd.add(25, probe);
        List<GenerationResult> together = run(51, crowd);
        assertArrayEquals(alone, together.get(25).tokens(), "probe among 50 others");
        assertEquals("probe", together.get(25).id());
    }

    @Test
    void continuousBatchingRefillsSlotsAndStreamsResultsAsTheyFinish() {
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 20; i++) reqs.add(request("r" + i, "Item " + i, i, 4 + (i * 7) % 19));
        List<String> order = new ArrayList<>();
        List<Integer> activeCounts = new ArrayList<>();
        List<GenerationResult> results = new ArrayList<>();
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(4, 64))) {
            g.run(reqs.iterator(), new BatchGenerator.Listener() {
                public void finished(GenerationResult r) { order.add(r.id()); results.add(r); }
                public void step(int n, int active) { activeCounts.add(active); }
            });
        }
        assertEquals(20, results.size());
        for (GenerationResult r : results) {
            int i = Integer.parseInt(r.id().substring(1));
            if (r.stop().equals("length")) assertEquals(4 + (i * 7) % 19, r.tokens().length);
        }
        assertNotEquals(reqs.stream().map(GenerationRequest::id).toList(), order, "results stream in finishing order");
        assertTrue(activeCounts.stream().allMatch(a -> a <= 4));
        // Until the queue runs dry every slot stays busy: refills happen in the same step a sequence ends.
        assertEquals(4, (int) activeCounts.get(activeCounts.size() / 3));
        // Results equal the ones of a run with a different batch size.
        List<GenerationResult> solo = run(1, reqs);
        for (GenerationResult r : results) {
            GenerationResult s = solo.stream().filter(x -> x.id().equals(r.id())).findFirst().orElseThrow();
            assertArrayEquals(s.tokens(), r.tokens(), r.id());
        }
    }

    @Test
    void aDecodeStepStaysOneMicroBatchWhileSlotsStartPromptsOrStandFree() {
        // With a KV stream per sequence, llama.cpp keeps sequences in one micro-batch only while their ids run
        // consecutively in the batch, and each micro-batch reads every weight: a slot refilled between decoding
        // slots must add one micro-batch for its prompt, and a free one (the queue ran dry: the last requests
        // end in any order) none, not split the decoding ones around it. Capture makes the hooks check every
        // micro-batch emovec counts against the positions llama.cpp actually ran; the tokens and captures must
        // be those of the same requests one at a time.
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            reqs.add(request("r" + i, "Item number " + (100 + i), i, 3 + (i * 5) % 13).withCapture(CaptureRequest.mean(Span.all(), 1)));
        }
        List<String> tooMany = new ArrayList<>();
        int[] finished = {0}, starting = {4};
        long[] seen = {0};
        int[] partSteps = {0};
        List<GenerationResult> together = new ArrayList<>(), alone;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(4, 64)).captureLayers(1)) {
            g.run(reqs.iterator(), new BatchGenerator.Listener() {
                public void finished(GenerationResult r) { finished[0]++; together.add(r); }

                public void step(int n, int active) {
                    long ubatches = g.stats().ubatches - seen[0];
                    seen[0] = g.stats().ubatches;
                    if (active < 4) partSteps[0]++;
                    if (ubatches > 1 + starting[0]) tooMany.add(ubatches + " micro-batches with " + starting[0] + " prompts starting, " + active + " slots busy");
                    starting[0] = finished[0]; // finished slots are refilled at the start of the next step
                    finished[0] = 0;
                }
            });
        }
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(1, 64)).captureLayers(1)) {
            alone = g.generateAll(reqs);
        }
        assertTrue(partSteps[0] > 5, "steps with a slot free: " + partSteps[0]);
        assertEquals(List.of(), tooMany);
        for (GenerationResult r : together) {
            GenerationResult a = alone.get(Integer.parseInt(r.id().substring(1)));
            assertArrayEquals(a.tokens(), r.tokens(), r.id());
            assertArrayEquals(a.captured().mean(1), r.captured().mean(1), r.id());
        }
    }

    @Test
    void manyRequestsOfRandomLengthsGetTheirOneAtATimeTokensWhateverTheBatchDoes() {
        // Everything at once, at random: 13 prompts shared by 240 requests of 1 to 40 new tokens on two contexts
        // of 6 slots, so sequences end in any order, free slots are padded, prompts are copied from busy and
        // finished donors and prefilled beside decoding ones. Every request must get the very tokens it gets
        // alone on one slot with nothing shared. (This found ggml-cpu's llamafile GEMM, which served batches of 2
        // or more tokens and rounded otherwise than the one-token path: see cmake/llama/CMakeLists.txt.)
        java.util.Random random = new java.util.Random(11);
        String[] prompts = new String[13];
        for (int p = 0; p < prompts.length; p++) prompts[p] = "Prompt " + p + ": a tale of " + "the long road home ".repeat(p % 4);
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 240; i++) reqs.add(request("r" + i, prompts[random.nextInt(prompts.length)], 7000 + i, 1 + random.nextInt(40)));
        List<GenerationResult> alone, mixed;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(1, 128).withSharePrompts(false))) {
            alone = g.generateAll(reqs);
        }
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(6, 128).withLanes(2))) {
            mixed = g.generateAll(reqs);
            assertTrue(g.stats().sharedPromptTokens > 0);
        }
        for (int i = 0; i < reqs.size(); i++) assertArrayEquals(alone.get(i).tokens(), mixed.get(i).tokens(), reqs.get(i).id());
    }

    @Test
    void sequencesThatShareAKvStreamGetTheirOneAtATimeTokens() {
        // Streams of 4 sequences (emovec's llama.cpp patch; 16 by default on a GPU only): prompts shared within a stream
        // by its cells, padding over whole streams, one prompt tail a stream a step; 20 prompts of 3 requests each,
        // random lengths, on two contexts of 8 slots. Each request must get the tokens it gets alone, but for
        // rounding: a stream spans other sequences' cells too, masked, and ggml-cpu's dot products add the same
        // terms in SIMD lanes picked by cell index, so in another order (the CLI's q4_k_m tiny model: one of 18
        // sequences parted at its 16th token). A wrong mask or cell parts at the first token, and most requests.
        java.util.Random random = new java.util.Random(5);
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int p = 0; p < 20; p++) {
            String prompt = "Prompt " + p + ": a story of " + "the sea and the hills ".repeat(1 + p % 3);
            for (int i = 0; i < 3; i++) reqs.add(request("p" + p + "/" + i, prompt, 900 + 3 * p + i, 1 + random.nextInt(30)));
        }
        List<GenerationResult> alone, streams;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(1, 128).withSharePrompts(false))) {
            alone = g.generateAll(reqs);
        }
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(16, 128))) {
            assertEquals(1, g.seqsPerStream(), "a CPU build keeps llama.cpp's stream per sequence by default");
        }
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(8, 128).withLanes(2).withSeqsPerStream(4))) {
            assertEquals(4, g.seqsPerStream());
            streams = g.generateAll(reqs);
            assertTrue(g.stats().sharedPromptTokens > 0, "no prompt was shared within a stream");
        }
        int same = 0;
        for (int i = 0; i < reqs.size(); i++) {
            assertEquals(alone.get(i).tokens()[0], streams.get(i).tokens()[0], reqs.get(i).id() + ": first token");
            same += java.util.Arrays.equals(alone.get(i).tokens(), streams.get(i).tokens()) ? 1 : 0;
        }
        assertTrue(same >= reqs.size() * 9 / 10, same + " of " + reqs.size() + " requests got their tokens alone");
    }

    @Test
    void automaticKvStreamsOnlyWherePromptsRepeat() {
        // streams of several sequences pay only by reading a shared prompt once (GeneratorOptions.forRequests)
        GenerationRequest a = request("a", "One prompt", 1, 4), b = request("b", "Another prompt", 2, 4), again = request("a2", "One prompt", 3, 4);
        GeneratorOptions auto = GeneratorOptions.of(16, 128);
        assertEquals(1, auto.forRequests(List.of(a, b)).seqsPerStream(), "distinct prompts: a stream per sequence");
        assertEquals(0, auto.forRequests(List.of(a, b, again)).seqsPerStream(), "a repeated prompt: left to BatchGenerator");
        GenerationRequest captured = again.withCapture(CaptureRequest.mean(Span.all(), new int[] {0}));
        assertEquals(1, auto.forRequests(List.of(a, b, captured)).seqsPerStream(), "a repeat that captures shares nothing");
        assertEquals(4, auto.withSeqsPerStream(4).forRequests(List.of(a, b)).seqsPerStream(), "a choice made is kept");
    }

    @Test
    void requestsWithOnePromptShareItsKvCacheAndGetTheSameTokens() {
        sharedPromptsGetThePrefilledTokens(GeneratorOptions.KvCache.F16);
    }

    @Test
    void aQ8CacheCopiesSharedPromptsWholeAndChangesTheStoriesOnlyByItsRounding() {
        // emovec_kv_copy moves q8_0 rows (32 values and a scale in 34 bytes) as they are: the copies decode as the
        // prefilled prompts do. The rounding does change the stories: not one matches F16's token for token.
        List<GenerationResult> q8 = sharedPromptsGetThePrefilledTokens(GeneratorOptions.KvCache.Q8_0);
        List<GenerationResult> f16 = sharedPromptsGetThePrefilledTokens(GeneratorOptions.KvCache.F16);
        int same = 0, sameFirst = 0;
        for (int i = 0; i < q8.size(); i++) {
            same += java.util.Arrays.equals(q8.get(i).tokens(), f16.get(i).tokens()) ? 1 : 0;
            sameFirst += q8.get(i).tokens()[0] == f16.get(i).tokens()[0] ? 1 : 0;
        }
        assertTrue(same < q8.size(), "a q8_0 cache gave every story F16's tokens: was it used?");
        // the first token comes from the prompt's last position, whose own K/V is rounded too: most still agree
        assertTrue(sameFirst >= q8.size() / 2, "first tokens that agree with F16's: " + sameFirst + " of " + q8.size());
    }

    /** Stories of shared prompts, then the same with each prompt prefilled, on that cache: the same tokens. */
    private List<GenerationResult> sharedPromptsGetThePrefilledTokens(GeneratorOptions.KvCache cache) {
        // Groups of identical prompts (the paper's 12 stories per emotion and topic) among unique ones, more
        // requests than slots, so prompts are shared in place, copied from busy and from finished sequences,
        // and held back while another sequence prefills them.
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int g = 0; g < 4; g++) {
            String prompt = "A story about the sea, number " + g + ", told by an old sailor to his grandchildren";
            for (int i = 0; i < 5; i++) reqs.add(request("g" + g + "/" + i, prompt, 100L * g + i, 6 + (g * 5 + i * 3) % 11));
            reqs.add(request("u" + g, "Unique prompt " + g, 999 + g, 9));
        }
        List<GenerationResult> plain, shared;
        long sharedTokens;
        GeneratorOptions options = GeneratorOptions.of(5, 128).withKvCache(cache);
        try (BatchGenerator gen = new BatchGenerator(model, options.withSharePrompts(false))) {
            plain = gen.generateAll(reqs);
            assertEquals(0, gen.stats().sharedPromptTokens);
        }
        try (BatchGenerator gen = new BatchGenerator(model, options)) {
            shared = gen.generateAll(reqs);
            sharedTokens = gen.stats().sharedPromptTokens;
        }
        int promptTokens = reqs.get(0).prompt().length;
        assertTrue(sharedTokens >= 4L * 3 * (promptTokens - 1), "most repeated prompts are copied, not prefilled: " + sharedTokens);
        for (int i = 0; i < reqs.size(); i++) assertArrayEquals(plain.get(i).tokens(), shared.get(i).tokens(), cache + " " + reqs.get(i).id());
        // Different seeds on one shared prompt still give different stories.
        assertFalse(java.util.Arrays.equals(shared.get(0).tokens(), shared.get(1).tokens()));
        return shared;
    }

    @Test
    void contextsSteppedInTurnGiveEachSequenceTheSameTokensAndCaptures() {
        // More requests than two contexts hold, shared prompts among unique ones, some capturing: every request
        // comes back once, with the very tokens and captured means one context gives it.
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 14; i++) {
            String prompt = i % 3 == 0 ? "A shared opening line for several stories" : "Unique opening " + i;
            GenerationRequest r = request("r" + i, prompt, 50 + i, 3 + (i * 5) % 11);
            reqs.add(i % 4 == 1 ? r.withCapture(CaptureRequest.mean(Span.all(), 1)) : r);
        }
        List<GenerationResult> one, two;
        long generated;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(3, 64)).captureLayers(1)) {
            one = g.generateAll(reqs);
            generated = g.stats().generatedTokens;
        }
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(3, 64).withLanes(2)).captureLayers(1)) {
            assertEquals(2, g.lanes());
            two = g.generateAll(reqs);
            assertEquals(generated, g.stats().generatedTokens);
            List<GenerationResult> again = g.generateAll(reqs); // a second run on the same contexts
            for (int i = 0; i < reqs.size(); i++) assertArrayEquals(two.get(i).tokens(), again.get(i).tokens(), "again " + reqs.get(i).id());
        }
        for (int i = 0; i < reqs.size(); i++) {
            assertEquals(reqs.get(i).id(), two.get(i).id());
            assertArrayEquals(one.get(i).tokens(), two.get(i).tokens(), reqs.get(i).id());
            if (one.get(i).captured() != null) assertArrayEquals(one.get(i).captured().mean(1), two.get(i).captured().mean(1), reqs.get(i).id());
        }
    }

    @Test
    void contextsSteppedInTurnShareTheQueueWhenFewPromptsRepeat() {
        // Two prompts, six stories each, on two contexts of three slots: the context that prefills a prompt must not
        // hold all its stories back from the other (both run at once), and no prompt is prefilled more than once
        // per context.
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 12; i++) reqs.add(request("s" + i, i % 2 == 0 ? "The first shared story prompt" : "Another shared prompt, longer than the first", 300 + i, 6));
        List<GenerationResult> one;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(3, 64))) {
            one = g.generateAll(reqs);
        }
        int[] mostActive = {0};
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(3, 64).withLanes(2))) {
            java.util.Map<String, GenerationResult> byId = new java.util.HashMap<>();
            g.run(reqs.iterator(), new BatchGenerator.Listener() {
                public void finished(GenerationResult r) { byId.put(r.id(), r); }
                public void step(int n, int active) { mostActive[0] = Math.max(mostActive[0], active); }
            });
            assertTrue(mostActive[0] > 3, "both contexts decode at once: at most " + mostActive[0] + " sequences were active");
            long prompts = reqs.get(0).prompt().length + reqs.get(1).prompt().length;
            assertTrue(g.stats().prefillTokens <= 2 * prompts + reqs.size(), "each prompt prefilled at most once per context: " + g.stats().prefillTokens);
            for (GenerationResult r : one) assertArrayEquals(r.tokens(), byId.get(r.id()).tokens(), r.id());
        }
    }

    @Test
    void twoContextsSplitTheNewPromptsAndPrefillEachOnce() {
        // The paper's layout in small: 4 prompts of 4 stories each, in queue order, on two contexts of 4 slots. The
        // first context must leave every other new prompt to the second context (their repeats held back for it),
        // not take all four to prefill while the second idles and then prefills them again: both run full at
        // once and every prompt is prefilled exactly once, its repeats copying it and decoding only its last
        // token. Tokens: those of each request alone with nothing shared.
        List<GenerationRequest> reqs = new ArrayList<>();
        long promptTokens = 0;
        for (int p = 0; p < 4; p++) {
            for (int i = 0; i < 4; i++) reqs.add(request("p" + p + "/" + i, "Prompt " + p + " of a story told four times over", 400 + 4 * p + i, 8));
            promptTokens += reqs.get(4 * p).prompt().length;
        }
        GeneratorOptions options = new GeneratorOptions(4, 64, 2048, 0, true, GeneratorOptions.Sampler.HOST);
        List<GenerationResult> alone;
        try (BatchGenerator g = new BatchGenerator(model, options.withSharePrompts(false))) {
            alone = g.generateAll(reqs);
        }
        int[] mostActive = {0};
        java.util.Map<String, GenerationResult> byId = new java.util.HashMap<>();
        try (BatchGenerator g = new BatchGenerator(model, options.withLanes(2))) {
            g.run(reqs.iterator(), new BatchGenerator.Listener() {
                public void finished(GenerationResult r) { byId.put(r.id(), r); }
                public void step(int n, int active) { mostActive[0] = Math.max(mostActive[0], active); }
            });
            assertEquals(promptTokens + 12, g.stats().prefillTokens, "4 prompts prefilled once, 12 copies decoding their last prompt token");
        }
        assertEquals(8, mostActive[0], "both contexts full at once");
        for (GenerationResult r : alone) assertArrayEquals(r.tokens(), byId.get(r.id()).tokens(), r.id());
    }

    @Test
    void newPromptsPrefillInAsFewMicroBatchesAsTheBatchHolds() {
        // llama.cpp's split_equal spreads the tokens of the sequences prefilling in a step evenly over micro-batches
        // of n_ubatch rows, each reading every weight (8B, H100: 512-row ones ran the bench's prompts at a third
        // of the extraction rate). Six prompts of about 200 tokens starting together fill one 2048-token batch:
        // they must run as one micro-batch, not three of 512.
        StringBuilder text = new StringBuilder();
        for (int w = 0; w < 95; w++) text.append(" word").append(w % 37); // two tokens a word
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int p = 0; p < 6; p++) reqs.add(request("p" + p, "Prompt " + p + ":" + text, p, 2));
        int tail = reqs.get(0).prompt().length - 1;
        assertTrue(6 * tail > 1024 && 6 * tail + 6 <= 2048, "prompt tails: " + 6 * tail + " tokens");
        List<Long> perStep = new ArrayList<>();
        long[] seen = {0};
        try (BatchGenerator g = new BatchGenerator(model, new GeneratorOptions(6, 256, 2048, 0, true, GeneratorOptions.Sampler.HOST))) {
            g.run(reqs.iterator(), new BatchGenerator.Listener() {
                public void finished(GenerationResult r) {}

                public void step(int n, int active) {
                    perStep.add(g.stats().ubatches - seen[0]);
                    seen[0] = g.stats().ubatches;
                }
            });
        }
        assertEquals(1L, perStep.get(0), "micro-batches of the step that prefills six prompts (then: " + perStep + ")");
    }

    @Test
    void promptTailsOfConsecutiveStreamsPrefillAsOneMicroBatch() {
        // Four streams of four sequences start a prompt each in the first step, four lengths a few tokens apart:
        // emovec's patch of split_equal runs one sequence of each of consecutive streams together, and BatchGenerator
        // pads the shorter tails to the longest so that none leaves a remainder. The first step must be two
        // micro-batches (a row of every sequence, then the four tails), not five, and each request must get its
        // tokens alone but for the rounding of a stream's masked cells (sequencesThatShareAKvStreamGetTheirOneAtATimeTokens).
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int p = 0; p < 4; p++) {
            String prompt = "Prompt " + p + ":" + " the sea and the hills".repeat(7) + " and more".repeat(p);
            for (int i = 0; i < 4; i++) reqs.add(request("p" + p + "/" + i, prompt, 700 + 4 * p + i, 12));
        }
        List<Integer> lengths = reqs.stream().map(r -> r.prompt().length).distinct().toList();
        assertEquals(4, lengths.size(), "prompt lengths " + lengths);
        List<GenerationResult> alone, streams;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(1, 128).withSharePrompts(false))) {
            alone = g.generateAll(reqs);
        }
        List<Long> perStep = new ArrayList<>();
        long[] seen = {0};
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(16, 128).withSeqsPerStream(4))) {
            streams = new ArrayList<>();
            g.run(reqs.iterator(), new BatchGenerator.Listener() {
                public void finished(GenerationResult r) { streams.add(r); }

                public void step(int n, int active) {
                    perStep.add(g.stats().ubatches - seen[0]);
                    seen[0] = g.stats().ubatches;
                }
            });
        }
        assertEquals(2L, perStep.get(0), "micro-batches of the step that prefills four streams' prompts (then: " + perStep + ")");
        java.util.Map<String, int[]> byId = new java.util.HashMap<>();
        for (GenerationResult r : streams) byId.put(r.id(), r.tokens());
        int same = 0;
        for (GenerationResult r : alone) {
            assertEquals(r.tokens()[0], byId.get(r.id())[0], r.id() + ": first token");
            same += java.util.Arrays.equals(r.tokens(), byId.get(r.id())) ? 1 : 0;
        }
        assertTrue(same >= alone.size() * 9 / 10, same + " of " + alone.size() + " requests got their tokens alone");
    }

    @Test
    void promptsLongerThanTheContextAreReportedNotSilentlyCut() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 600; i++) sb.append("word ");
        List<GenerationResult> r = run(2, List.of(request("long", sb.toString(), 1, 4), request("short", "Hi", 1, 4)));
        assertEquals("prompt_too_long", r.get(0).stop());
        assertEquals(0, r.get(0).tokens().length);
        assertEquals(4, r.get(1).tokens().length);
    }

    @Test
    void samplingFromTheEvalHooksCandidatesGivesTheSameTokensAsFullRows() {
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 6; i++) reqs.add(request("h" + i, "Hook test " + i, 50 + i, 20));
        reqs.add(new GenerationRequest("greedy", model.tokenize("Greedy", true, false), Sampling.greedy(), 20));
        // top-k 100 > the hook's 64: that sequence's rows are sampled from the whole row, beside the others
        reqs.add(3, new GenerationRequest("wide", model.tokenize("Top-k beyond the hook's", true, false), new Sampling(0.8f, 100, 0.95f, 77), 20));
        List<GenerationResult> full, hooked;
        long fromCandidates;
        System.setProperty("emovec.hookTopK", "0");
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(4, 128))) {
            full = g.generateAll(reqs);
            assertEquals(0, g.stats().rowsFromCandidates);
        } finally {
            System.clearProperty("emovec.hookTopK");
        }
        long keptOnDevice;
        try (BatchGenerator g = new BatchGenerator(model, GeneratorOptions.of(4, 128))) {
            hooked = g.generateAll(reqs);
            fromCandidates = g.stats().rowsFromCandidates;
            keptOnDevice = g.stats().logitsKeptOnDevice;
        }
        assertTrue(fromCandidates > 7 * 20 / 2, "most rows come from the hook's candidates: " + fromCandidates);
        // once "wide" is done, every row fits the candidates: llama.cpp need not copy the logits to the host
        assertTrue(keptOnDevice > 5, "decodes whose logits stayed on the device: " + keptOnDevice);
        for (int i = 0; i < reqs.size(); i++) assertArrayEquals(full.get(i).tokens(), hooked.get(i).tokens(), reqs.get(i).id());
    }

    @Test
    void backendSamplerIsDeterministicAndBatchIndependentToo() {
        GenerationRequest probe = request("probe", "The weather today is", 7, 16);
        List<GenerationRequest> crowd = new ArrayList<>();
        for (int i = 0; i < 6; i++) crowd.add(request("o" + i, "Other " + i, 100 + i, 5 + i * 3));
        crowd.add(3, probe);
        try (BatchGenerator alone = new BatchGenerator(model, backend(1));
             BatchGenerator again = new BatchGenerator(model, backend(1));
             BatchGenerator shared = new BatchGenerator(model, backend(3))) {
            int[] a = alone.generateAll(List.of(probe)).get(0).tokens();
            assertEquals(16, a.length);
            assertArrayEquals(a, again.generateAll(List.of(probe)).get(0).tokens());
            assertArrayEquals(a, shared.generateAll(crowd).get(3).tokens(), "probe among others, slots refilled");
        }
    }

    private static GeneratorOptions backend(int parallel) {
        return new GeneratorOptions(parallel, 128, 2048, 0, false, GeneratorOptions.Sampler.BACKEND);
    }

    @Test
    void greedyPicksTheArgmaxEveryTime() {
        GenerationRequest g1 = new GenerationRequest("g", model.tokenize("A", true, false), Sampling.greedy(), 12);
        GenerationRequest g2 = new GenerationRequest("g", model.tokenize("A", true, false), new Sampling(0f, 1, 1f, 999), 12);
        assertArrayEquals(run(1, List.of(g1)).get(0).tokens(), run(3, List.of(g2)).get(0).tokens());
    }
}
