package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

import org.emovec.model.TestModels;
import org.emovec.reference.ReferenceLlama;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The hook layer against the plain-Java reference forward pass (CPU build, F32 weights, F32 KV cache):
 * captured residuals at every layer, logits with and without span-restricted steering, many sequences with
 * their own spans and vectors in one batch, and batches llama.cpp splits into micro-batches both ways.
 */
class HookLayerTest {
    static final double TOLERANCE = 1e-4;
    static Model model;
    static ReferenceLlama reference;
    static int layers, width;

    @BeforeAll
    static void load() {
        model = Model.load(TestModels.tiny(), 0);
        reference = ReferenceLlama.load(TestModels.tiny());
        layers = model.layers();
        width = model.width();
    }

    @AfterAll
    static void free() {
        model.close();
    }

    static ScorerOptions exact() { return ScorerOptions.defaults().withSequences(8).withBatch(1024, 512).withExactF32(true); }

    int[] prompt(String text) { return model.tokenize(text, true, false); }

    static float[] randomVector(long seed, double norm) {
        Random r = new Random(seed);
        float[] v = new float[width];
        double ss = 0;
        for (int i = 0; i < width; i++) { v[i] = (float) r.nextGaussian(); ss += v[i] * v[i]; }
        for (int i = 0; i < width; i++) v[i] = (float) (v[i] * norm / Math.sqrt(ss));
        return v;
    }

    /** ||a - b|| / ||b||. */
    static double relativeError(float[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < b.length; i++) { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i]; }
        return Math.sqrt(num / den);
    }

    static int[] allLayers() { return IntStream.range(0, layers).toArray(); }

    @Test
    void capturedResidualsAtEveryLayerAndPositionMatchTheReference() {
        int[] tokens = prompt("The quiet harbour filled with boats as the storm came in from the west.");
        try (PromptScorer s = new PromptScorer(model, exact())) {
            ScoreResult r = s.score(List.of(ScoreRequest.of("p", tokens).withAllLogits()
                    .withCapture(CaptureRequest.rows(Span.all(), allLayers())))).get(0);
            ReferenceLlama.Forward ref = reference.forward(tokens, List.of());
            double worst = 0;
            for (int p = 0; p < tokens.length; p++) {
                for (int l = 0; l < layers; l++) {
                    float[] row = r.captured().row(p, l);
                    // after the last block llama.cpp keeps only output rows: every row is one here (allLogits)
                    assertNotNull(row, "position " + p + " layer " + l);
                    worst = Math.max(worst, relativeError(row, ref.residual(p, l)));
                }
                worst = Math.max(worst, relativeError(r.logits()[p], ref.logits()[p]));
            }
            assertTrue(worst < TOLERANCE, "worst relative error " + worst);
            // the mean capture is the mean of the rows
            ScoreResult m = s.score(List.of(ScoreRequest.of("m", tokens).withCapture(CaptureRequest.mean(Span.from(3), 1, 2)))).get(0);
            double[] mean = new double[width];
            for (int p = 3; p < tokens.length; p++) for (int i = 0; i < width; i++) mean[i] += ref.residual(p, 2)[i] / (tokens.length - 3);
            assertEquals(tokens.length - 3, m.captured().counts()[1]);
            assertTrue(relativeError(m.captured().mean(2), mean) < TOLERANCE);
        }
    }

    @Test
    void steeringChangesExactlyTheSpanAndMatchesTheReference() {
        int[] tokens = prompt("Option A: go hiking in the hills. Option B: stay home and read a book. Answer: (");
        int layer = 1;
        Span span = Span.of(5, 11);
        float[] v = randomVector(1, 1.0);
        Steering steer = new Steering(layer, v, 0.75, span);
        try (PromptScorer s = new PromptScorer(model, exact())) {
            CaptureRequest all = CaptureRequest.rows(Span.all(), allLayers());
            // one call each, so both runs place the tokens identically in the batch (bit-for-bit comparable)
            List<ScoreResult> r = List.of(
                    s.score(List.of(ScoreRequest.of("plain", tokens).withAllLogits().withCapture(all))).get(0),
                    s.score(List.of(ScoreRequest.of("steered", tokens).withAllLogits().withCapture(all).withSteering(List.of(steer)))).get(0));
            Captured plain = r.get(0).captured(), steered = r.get(1).captured();
            for (int p = 0; p < tokens.length; p++) {
                for (int l = 0; l < layers; l++) {
                    float[] a = plain.row(p, l), b = steered.row(p, l);
                    if (l < layer || (l == layer && !span.contains(p)) || p < span.from()) {
                        assertArrayEquals(a, b, "untouched: position " + p + " layer " + l); // bit for bit
                    } else if (l == layer) {
                        float[] expect = new float[width];
                        for (int i = 0; i < width; i++) expect[i] = a[i] + (float) steer.alpha() * v[i];
                        assertArrayEquals(expect, b, "steered row = row + alpha v, position " + p);
                    }
                }
                if (p < span.from()) assertArrayEquals(r.get(0).logits()[p], r.get(1).logits()[p], "logits before the span, position " + p);
            }
            ReferenceLlama.Forward ref = reference.forward(tokens, List.of(steer));
            ReferenceLlama.Forward refPlain = reference.forward(tokens, List.of());
            int last = tokens.length - 1;
            assertTrue(relativeError(r.get(1).logits()[last], ref.logits()[last]) < TOLERANCE);
            for (int l = 0; l < layers; l++) assertTrue(relativeError(steered.row(last, l), ref.residual(last, l)) < TOLERANCE, "layer " + l);
            // the steering moved the output more than the engine's error: the test can tell the difference
            double moved = 0, err = 0;
            for (int i = 0; i < ref.logits()[last].length; i++) {
                moved += Math.abs(ref.logits()[last][i] - refPlain.logits()[last][i]);
                err += Math.abs(r.get(1).logits()[last][i] - ref.logits()[last][i]);
            }
            assertTrue(moved > 100 * err, "steering effect " + moved + " vs error " + err);
        }
    }

    @Test
    void theGraphIsSplitForEveryDecodeThatSteersAfterOnesThatDidNot() {
        // a decode that captures and steers nothing is computed by llama.cpp alone (emovec_hooks_begin); the same
        // graph, reused for a steered decode, must be split at the steered layer again, and whole again after
        int[] tokens = prompt("Option A: go hiking in the hills. Option B: stay home and read a book. Answer: (");
        Steering steer = new Steering(1, randomVector(3, 1.0), 2.0, Span.of(5, 11));
        ScoreRequest plain = ScoreRequest.of("plain", tokens).withAllLogits();
        ScoreRequest steered = ScoreRequest.of("steered", tokens).withAllLogits().withSteering(List.of(steer));
        float[] fresh;
        try (PromptScorer s = new PromptScorer(model, exact())) {
            fresh = s.score(List.of(steered)).get(0).logits()[tokens.length - 1];
        }
        try (PromptScorer s = new PromptScorer(model, exact())) {
            float[][] runs = new float[4][];
            for (int i = 0; i < 4; i++) runs[i] = s.score(List.of(i % 2 == 0 ? plain : steered)).get(0).logits()[tokens.length - 1];
            assertFalse(Arrays.equals(runs[0], fresh), "the steering changes the last logits");
            assertArrayEquals(fresh, runs[1], "steered after plain");
            assertArrayEquals(runs[0], runs[2], "plain after steered");
            assertArrayEquals(fresh, runs[3], "steered again");
        }
    }

    @Test
    void bothOptionsOfOnePromptSteerTheirOwnSpansAtOneLayer() {
        int[] tokens = prompt("Option A: go hiking in the hills. Option B: stay home and read a book. Answer: (");
        int layer = 2;
        Steering a = new Steering(layer, randomVector(3, 1.0), 0.5, Span.of(3, 8)), b = new Steering(layer, randomVector(4, 1.0), -0.8, Span.of(11, 17));
        try (PromptScorer s = new PromptScorer(model, exact())) {
            CaptureRequest at = CaptureRequest.rows(Span.all(), layer);
            Captured plain = s.score(List.of(ScoreRequest.of("plain", tokens).withCapture(at))).get(0).captured();
            ScoreResult r = s.score(List.of(ScoreRequest.of("both", tokens).withAllLogits().withCapture(at).withSteering(List.of(a, b)))).get(0);
            for (int p = 0; p < tokens.length; p++) {
                Steering st = a.span().contains(p) ? a : b.span().contains(p) ? b : null;
                float[] expect = plain.row(p, layer).clone();
                if (st != null) for (int i = 0; i < width; i++) expect[i] += (float) st.alpha() * st.vector()[i];
                assertArrayEquals(expect, r.captured().row(p, layer), "position " + p);
            }
            int last = tokens.length - 1;
            assertTrue(relativeError(r.logits()[last], reference.forward(tokens, List.of(a, b)).logits()[last]) < TOLERANCE);
            Steering overlapping = new Steering(layer, randomVector(5, 1.0), 1.0, Span.of(7, 12));
            EmovecException e = assertThrows(EmovecException.class,
                    () -> s.score(List.of(ScoreRequest.of("x", tokens).withSteering(List.of(a, overlapping)))));
            assertTrue(e.getMessage().contains("overlap"), e.getMessage());
        }
    }

    @Test
    void manySequencesWithTheirOwnSpansAndVectorsSplitIntoMicroBatchesBothWays() {
        String[] texts = {"I walked to the market and bought fresh bread.", "Rain again.", "She opened the letter and smiled at the first line.",
                "Numbers: 1, 2, 3, 4, 5, 6, 7, 8.", "A long quiet afternoon in the garden with tea.", "Why?"};
        List<ScoreRequest> requests = new ArrayList<>();
        List<List<Steering>> steers = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            int[] t = prompt(texts[i]);
            List<Steering> st = i % 3 == 2 ? List.of() : List.of(new Steering(i % layers, randomVector(10 + i, 0.5 + i), 1.0, Span.of(1 + i % 3, Math.max(2, t.length - 1))),
                    new Steering((i + 2) % layers, randomVector(20 + i, 1.0), -0.5, Span.from(t.length / 2)));
            steers.add(st);
            requests.add(ScoreRequest.of("s" + i, t, 13, 426).withSteering(st).withCapture(CaptureRequest.mean(Span.from(1), 0, layers - 1)));
        }
        for (boolean kvPerSequence : new boolean[] {false, true}) {
            // 7-token ubatches: every prompt is cut across micro-batches, and sequences share them
            try (PromptScorer s = new PromptScorer(model, exact().withBatch(1024, 7).withKvPerSequence(kvPerSequence))) {
                List<ScoreResult> results = s.score(requests);
                for (int i = 0; i < texts.length; i++) {
                    int[] t = requests.get(i).tokens();
                    ReferenceLlama.Forward ref = reference.forward(t, steers.get(i));
                    double[] expect = ref.logits()[t.length - 1];
                    float[] got = results.get(i).candidateLogits();
                    assertEquals(expect[13], got[0], 1e-4 * Math.abs(expect[13]) + 1e-6, "kvPerSequence=" + kvPerSequence + " seq " + i);
                    assertEquals(expect[426], got[1], 1e-4 * Math.abs(expect[426]) + 1e-6);
                    double[] mean = new double[width];
                    for (int p = 1; p < t.length; p++) for (int j = 0; j < width; j++) mean[j] += ref.residual(p, 0)[j] / (t.length - 1);
                    assertTrue(relativeError(results.get(i).captured().mean(0), mean) < TOLERANCE, "mean capture, seq " + i);
                    // after the last block only the last token is kept (one output): its mean is that row
                    assertEquals(1, results.get(i).captured().counts()[1]);
                }
            }
        }
    }

    @Test
    void contextsThatScoreInTurnGiveTheSameResultsInRequestOrder() {
        List<ScoreRequest> requests = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            int[] t = prompt("Prompt number " + i + " says something" + " else".repeat(i % 4) + ".");
            requests.add(ScoreRequest.of("r" + i, t, 13, 426).withCapture(CaptureRequest.mean(Span.from(1), 1))
                    .withSteering(i % 2 == 0 ? List.of(new Steering(1, randomVector(30 + i, 1.0), 1.0, Span.of(2, 5))) : List.of()));
        }
        List<ScoreResult> one, three;
        // two prompts a decode: five groups, taken by three contexts in turn
        try (PromptScorer s = new PromptScorer(model, exact().withSequences(2).withLanes(1))) {
            one = s.score(requests);
        }
        try (PromptScorer s = new PromptScorer(model, exact().withSequences(2).withLanes(3))) {
            assertEquals(3, s.lanes());
            three = s.score(requests);
            float again = s.score(requests.subList(4, 5)).get(0).candidateLogits()[0]; // the scorer is ready again, and agrees
            assertEquals(three.get(4).candidateLogits()[0], again, 1e-4 * Math.abs(again));
        }
        for (int i = 0; i < requests.size(); i++) {
            assertEquals("r" + i, three.get(i).id());
            assertArrayEquals(one.get(i).candidateLogits(), three.get(i).candidateLogits(), "prompt " + i);
            assertArrayEquals(one.get(i).captured().mean(1), three.get(i).captured().mean(1), "prompt " + i);
        }
    }

    @Test
    void listsScoredInOneStreamGiveWhatEachGivesAloneAndFinishInOrder() {
        // three lists (extraction: calls of one emotion's texts), the second capturing another layer
        List<List<ScoreRequest>> lists = new ArrayList<>();
        for (int c = 0; c < 3; c++) {
            List<ScoreRequest> list = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                int[] t = prompt("List " + c + ", prompt " + i + " says" + " more".repeat((i * 3 + c) % 4) + ".");
                list.add(ScoreRequest.of("c" + c + "r" + i, t, 13, 426).withCapture(CaptureRequest.mean(Span.from(1), c == 1 ? 0 : 1)));
            }
            lists.add(list);
        }
        List<List<ScoreResult>> alone = new ArrayList<>();
        try (PromptScorer s = new PromptScorer(model, exact().withSequences(2).withLanes(1))) {
            for (List<ScoreRequest> list : lists) alone.add(s.score(list));
        }
        ScoreResult[][] streamed = new ScoreResult[3][5];
        List<Integer> arrivals = new ArrayList<>(); // each result's list, in the order they came
        try (PromptScorer s = new PromptScorer(model, exact().withSequences(2).withLanes(3))) {
            s.scoreChunks(lists.iterator(), (c, i, r) -> { streamed[c][i] = r; arrivals.add(c); });
        }
        assertEquals(arrivals.stream().sorted().toList(), arrivals, "a list's results all come before the next list's");
        for (int c = 0; c < 3; c++) {
            int layer = c == 1 ? 0 : 1;
            for (int i = 0; i < 5; i++) {
                assertEquals("c" + c + "r" + i, streamed[c][i].id());
                assertArrayEquals(alone.get(c).get(i).candidateLogits(), streamed[c][i].candidateLogits(), "list " + c + " prompt " + i);
                assertArrayEquals(alone.get(c).get(i).captured().mean(layer), streamed[c][i].captured().mean(layer), "list " + c + " prompt " + i);
            }
        }
    }

    @Test
    void aKvStreamPerTextPadsEachBatchIntoOneMicroBatchAndAgreesWithOneSharedStream() {
        int[] story = prompt("The old lighthouse keeper climbed the stairs each night, counting the steps, listening to the sea"
                + " against the rocks and thinking of the letters he had never sent to his brother in the city.");
        Random random = new Random(7);
        List<ScoreRequest> requests = new ArrayList<>();
        for (int i = 0; i < 23; i++) { // lengths in random order, so that sorting and putting back both matter
            int[] t = Arrays.copyOf(story, 3 + random.nextInt(story.length - 3));
            requests.add(ScoreRequest.of("t" + i, t, 13, 426).withCapture(CaptureRequest.mean(Span.from(1), allLayers())));
        }
        List<ScoreResult> shared, perText;
        try (PromptScorer s = new PromptScorer(model, exact().withBatch(96, 96))) {
            shared = s.score(requests);
        }
        // the layout extraction and the checks use: a stream per text, as long as the longest text
        ScorerOptions layout = Sizing.of(8).perText(96, story.length).withExactF32(true);
        assertEquals(story.length, layout.cellsPerStream());
        try (PromptScorer s = new PromptScorer(model, layout)) {
            perText = s.score(requests);
            // unpadded, texts of unequal length would be cut into micro-batches of equally many tokens each
            assertEquals(1, s.maxUbatches(), "micro-batches per llama_decode");
        }
        for (int i = 0; i < requests.size(); i++) {
            assertEquals("t" + i, perText.get(i).id());
            float[] a = shared.get(i).candidateLogits(), b = perText.get(i).candidateLogits();
            for (int c = 0; c < 2; c++) assertEquals(a[c], b[c], 1e-4 * Math.abs(a[c]) + 1e-6, "text " + i);
            for (int l = 0; l < layers - 1; l++) {
                assertEquals(shared.get(i).captured().counts()[l], perText.get(i).captured().counts()[l], "text " + i + " layer " + l);
                double[] want = new double[width];
                for (int j = 0; j < width; j++) want[j] = shared.get(i).captured().mean(l)[j];
                assertTrue(relativeError(perText.get(i).captured().mean(l), want) < TOLERANCE, "text " + i + " layer " + l);
            }
        }
    }

    @Test
    void aPromptLongerThanItsKvStreamIsRefusedInOneLine() {
        int[] story = prompt("The old lighthouse keeper climbed the stairs each night, counting the steps.");
        int[] long_ = new int[600];
        for (int i = 0; i < long_.length; i++) long_[i] = story[1 + i % (story.length - 1)];
        long_[0] = story[0];
        // llama.cpp rounds each stream up to 256 cells: 300 -> 512
        try (PromptScorer s = new PromptScorer(model, exact().withBatch(1024, 1024).withKvPerSequence(true).withStreamTokens(300))) {
            EmovecException e = assertThrows(EmovecException.class, () -> s.score(List.of(ScoreRequest.of("long", long_))));
            assertEquals("long: prompt of 600 tokens exceeds the 512 tokens the scorer holds per prompt: raise the batch size", e.getMessage());
        }
    }

    @Test
    void generationCapturesWhatItDecodesAndSteersItsSpan() {
        int[] promptTokens = prompt("Tell me about the sea.");
        float[] v = randomVector(5, 3.0);
        GenerationRequest g = new GenerationRequest("g", promptTokens, Sampling.greedy(), 12)
                .withCapture(CaptureRequest.mean(Span.from(2), 1, 3))
                .withSteering(List.of(new Steering(2, v, 1.0, Span.from(promptTokens.length))));
        try (BatchGenerator gen = new BatchGenerator(model, GeneratorOptions.of(4, 64)).captureLayers(1, 3)) {
            GenerationResult r = gen.generateAll(List.of(g, new GenerationRequest("other", prompt("Hello there"), Sampling.defaults(3), 9))).get(0);
            int[] decoded = IntStream.concat(IntStream.of(promptTokens), IntStream.of(r.tokens())).limit(promptTokens.length + r.tokens().length - 1).toArray();
            assertEquals(decoded.length - 2, r.captured().counts()[0]);
            ReferenceLlama.Forward ref = reference.forward(decoded, g.steering());
            double[] mean = new double[width];
            for (int p = 2; p < decoded.length; p++) for (int j = 0; j < width; j++) mean[j] += ref.residual(p, 1)[j] / (decoded.length - 2);
            // the generator's context keeps an F16 KV cache: looser than the exact scorer
            assertTrue(relativeError(r.captured().mean(1), mean) < 1e-2, "generation capture vs reference");
        }
    }

    @Test
    void meanResidualNormIsWhatTheReferenceMeasures() {
        int[] a = prompt("First sentence of a short test."), b = prompt("Second one, a little longer than the first.");
        try (PromptScorer s = new PromptScorer(model, exact())) {
            double norm = s.meanResidualNorm(List.of(a, b), 2, 1);
            double sum = 0;
            int n = 0;
            for (int[] t : List.of(a, b)) {
                ReferenceLlama.Forward f = reference.forward(t, List.of());
                for (int p = 1; p < t.length; p++) {
                    double ss = 0;
                    for (double x : f.residual(p, 2)) ss += x * x;
                    sum += Math.sqrt(ss);
                    n++;
                }
            }
            assertEquals(sum / n, norm, 1e-4 * norm);
        }
    }

    @Test
    void aLayerOutOfRangeIsAClearError() {
        try (PromptScorer s = new PromptScorer(model, exact())) {
            EmovecException e = assertThrows(EmovecException.class, () -> s.score(List.of(ScoreRequest.of("x", prompt("Hi"))
                    .withCapture(CaptureRequest.mean(Span.all(), layers)))));
            assertTrue(e.getMessage().contains("layer " + layers + " is out of range"), e.getMessage());
        }
    }

    @Test
    void steeringEveryTokenEqualsLlamaCppsOwnControlVector() throws Exception {
        int[] tokens = prompt("A control vector adds the same direction at every token.");
        float[] v = randomVector(9, 2.0);
        java.nio.file.Path file = TestModels.dir().resolve("cv-test.gguf");
        org.emovec.io.ControlVectorFile.write(file, java.util.Map.of(2, v), 1.5, layers, "llama");
        float[] direction;
        try (org.emovec.gguf.GgufFile g = org.emovec.gguf.GgufFile.open(file)) {
            direction = g.floats("direction.2");
        }
        try (PromptScorer s = new PromptScorer(model, exact())) {
            float[] ours = s.score(List.of(ScoreRequest.of("ours", tokens).withAllLogits()
                    .withSteering(List.of(new Steering(2, v, 1.5, Span.all()))))).get(0).logits()[tokens.length - 1];
            // llama.cpp's layout: layer il at (il - 1) * n_embd, layers 1 .. n_layer-1
            float[] data = new float[(layers - 1) * width];
            System.arraycopy(direction, 0, data, width, width);
            for (var ctx : s.contexts()) {
                assertEquals(0, org.emovec.llama.global.LlamaCpp.llama_set_adapter_cvec(ctx, new org.bytedeco.javacpp.FloatPointer(data), data.length, width, 1, layers - 1));
            }
            float[] theirs = s.score(List.of(ScoreRequest.of("cvec", tokens).withAllLogits())).get(0).logits()[tokens.length - 1];
            double[] t = new double[theirs.length];
            for (int i = 0; i < t.length; i++) t[i] = theirs[i];
            assertTrue(relativeError(ours, t) < 1e-6, "steering vs llama.cpp control vector: " + relativeError(ours, t));
        }
    }

    @Test
    void aSpanCanBeGivenAsTheWordsOfThePrompt() {
        String text = "Option A: go hiking. Option B: stay home and read. Answer: (";
        int[] tokens = prompt(text);
        Span span = model.spanOf(tokens, text, "stay home and read");
        assertEquals("stay home and read", model.detokenize(java.util.Arrays.copyOfRange(tokens, span.from(), span.to()), false).trim());
        assertThrows(EmovecException.class, () -> model.spanOf(tokens, text, "not there"));
    }

    @Test
    void sequencesInOneBatchMayCaptureDifferentLayers() {
        int[] a = prompt("The first sequence captures one layer."), b = prompt("The second captures two layers, and more tokens.");
        try (PromptScorer s = new PromptScorer(model, exact())) {
            List<ScoreResult> r = s.score(List.of(ScoreRequest.of("a", a).withCapture(CaptureRequest.mean(Span.all(), 1)),
                    ScoreRequest.of("b", b).withCapture(CaptureRequest.mean(Span.from(2), 1, 2))));
            for (int k = 0; k < 2; k++) {
                int[] t = k == 0 ? a : b;
                int from = k == 0 ? 0 : 2;
                Captured c = r.get(k).captured();
                ReferenceLlama.Forward ref = reference.forward(t, List.of());
                for (int layer : c.layers()) {
                    double[] mean = new double[width];
                    for (int p = from; p < t.length; p++) for (int j = 0; j < width; j++) mean[j] += ref.residual(p, layer)[j] / (t.length - from);
                    assertTrue(relativeError(c.mean(layer), mean) < TOLERANCE, "sequence " + k + " layer " + layer);
                    assertEquals(t.length - from, c.counts()[c.indexOf(layer)]);
                }
            }
            assertArrayEquals(new int[] {1}, r.get(0).captured().layers());
        }
    }
}
