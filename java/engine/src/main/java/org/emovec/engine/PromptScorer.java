package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.IntStream;

import org.bytedeco.javacpp.FloatPointer;
import org.emovec.llama.llama_batch;
import org.emovec.llama.llama_context;
import org.emovec.llama.llama_context_params;

/**
 * Runs prompts through the model without generating -- many per llama_decode -- and reads chosen next-token
 * logits, captures the residual stream and steers it, per prompt. This is the engine of extraction
 * (mean residual over a story), preference scoring (logit of "A" vs "B") and steering.
 *
 * <p>On a GPU the prompts go through {@code lanes} llama.cpp contexts in turn: while one decodes a group of
 * prompts, the host reads the results of the last group from another and prepares the next, so the GPU does
 * not wait for the host between groups (with one context it idled about a fifth of the time: H100, 8B model).
 */
public final class PromptScorer implements AutoCloseable {
    private static final int GGML_TYPE_F32 = 0;
    private static final int FLASH_ATTN_DISABLED = 0;

    private final Model model;
    private final ScorerOptions options;
    private final List<Lane> lanes;
    private final int vocab;
    private int maxUbatches; // the most micro-batches one llama_decode ran in

    public PromptScorer(Model model, ScorerOptions options) {
        this.model = model;
        this.options = options;
        this.vocab = model.vocabSize();
        lanes = Lanes.open(options.lanes(), Lane::new, "scoring");
    }

    /** One llama.cpp context with its batch and hooks, and the group of prompts it is decoding (null: idle). */
    private final class Lane implements AutoCloseable {
        final llama_context ctx;
        final llama_batch batch;
        final Hooks hooks;
        List<ScoreRequest> group;
        int chunk; // which of the caller's lists the group is from (scoreChunks)
        int[] positions; // where each prompt of the group is in that list
        int[] first; // batch row of each prompt's first token

        Lane() {
            llama_context_params p = llama_context_default_params();
            // one stream: the whole batch; a stream per sequence: each as long as the longest prompt it must hold,
            // in llama.cpp's steps of 256 cells (llama.cpp attends only over the cells in use, so only memory grows)
            long ctxTokens = options.kvPerSequence() ? (options.cellsPerStream() + 255L) / 256 * 256 * options.sequences() : options.batchTokens();
            p.n_ctx((int) Math.min(ctxTokens, Integer.MAX_VALUE));
            p.n_batch(options.batchTokens());
            p.n_ubatch(Math.min(options.ubatchTokens(), options.batchTokens()));
            p.n_seq_max(options.sequences());
            p.n_threads(options.threads());
            p.n_threads_batch(options.threads());
            p.kv_unified(!options.kvPerSequence());
            p.no_perf(true);
            if (options.exactF32()) p.type_k(GGML_TYPE_F32).type_v(GGML_TYPE_F32).flash_attn_type(FLASH_ATTN_DISABLED);
            hooks = new Hooks(model, options.sequences(), 0);
            Native.takeLastError();
            ctx = llama_init_from_model(model.handle(), p);
            if (ctx == null || ctx.isNull()) {
                String why = Native.lastErrorSuffix();
                hooks.close();
                throw new EmovecException("cannot create a scoring context of " + options.sequences() + " sequences, " + options.batchTokens()
                        + " tokens" + why + ": use fewer sequences or a smaller batch");
            }
            hooks.attach(ctx);
            batch = llama_batch_init(options.batchTokens(), 0, 1);
        }

        /**
         * Starts decoding the group; llama.cpp may still be computing when this returns. With a KV stream per
         * sequence every prompt is padded to the group's longest (see {@link #score}).
         */
        void submit(List<ScoreRequest> prompts, int fromChunk, int[] where) {
            group = prompts; // from here on abandon() clears what the hooks were told
            chunk = fromChunk;
            positions = where;
            int padTo = 0, n = 0; // padTo: every prompt's rows (0: its own length)
            if (options.kvPerSequence()) for (ScoreRequest r : prompts) padTo = Math.max(padTo, r.tokens().length);
            for (ScoreRequest r : prompts) n += Math.max(padTo, r.tokens().length);
            int[] tok = new int[n], pos = new int[n], seq = new int[n];
            byte[] want = new byte[n];
            first = new int[prompts.size()];
            int k = 0;
            for (int s = 0; s < prompts.size(); s++) {
                ScoreRequest r = prompts.get(s);
                int[] t = r.tokens();
                first[s] = k;
                // padding repeats the last token after the prompt's end: causal attention keeps it out of the
                // prompt's own rows, and neither its logits nor its residuals are read
                for (int p = 0; p < Math.max(padTo, t.length); p++, k++) {
                    tok[k] = t[Math.min(p, t.length - 1)]; pos[k] = p; seq[k] = s;
                    want[k] = (byte) (p == t.length - 1 || r.allLogits() && p < t.length ? 1 : 0);
                }
                if (r.capture() != null) hooks.capture(s, r.capture(), t.length);
                hooks.steer(s, r.steering());
            }
            llama_memory_clear(llama_get_memory(ctx), true);
            emovec_batch_fill(batch, n, tok, pos, seq, want);
            hooks.begin(n, pos, seq, want, llama_n_ubatch(ctx), options.kvPerSequence() && options.sequences() > 1 ? 1 : 0, true);
            int rc = llama_decode(ctx, batch);
            if (rc != 0) {
                String why = Native.lastErrorSuffix();
                abandon();
                throw new EmovecException("llama_decode failed with code " + rc + why);
            }
            maxUbatches = Math.max(maxUbatches, hooks.ubatches());
        }

        /** Waits for the group's decode and hands each result on with where its prompt was in the caller's lists. */
        void collect(Sink sink) {
            llama_synchronize(ctx);
            RuntimeException hookError = null;
            try {
                hooks.end();
            } catch (RuntimeException e) {
                hookError = e;
            }
            List<ScoreRequest> prompts = group;
            group = null;
            Captured[] captured = hooks.finish(IntStream.range(0, prompts.size()).toArray());
            ScoreResult[] results = new ScoreResult[prompts.size()];
            for (int s = 0; s < prompts.size(); s++) {
                ScoreRequest r = prompts.get(s);
                float[] cand = new float[r.candidates().length];
                if (cand.length > 0) {
                    float[] lastRow = row(first[s] + r.tokens().length - 1);
                    for (int c = 0; c < cand.length; c++) cand[c] = lastRow[r.candidates()[c]];
                }
                float[][] all = null;
                if (r.allLogits()) {
                    all = new float[r.tokens().length][];
                    for (int p = 0; p < all.length; p++) all[p] = row(first[s] + p);
                }
                results[s] = new ScoreResult(r.id(), cand, all, captured[s]);
            }
            if (hookError != null) throw hookError;
            for (int s = 0; s < results.length; s++) sink.accept(chunk, positions[s], results[s]);
        }

        /** Drops the group in flight, if any (after an error elsewhere), so that the lane can score again. */
        void abandon() {
            if (group == null) return;
            llama_synchronize(ctx);
            try {
                hooks.end();
            } catch (RuntimeException ignored) {
                // the error that made us abandon the group is the one reported
            }
            hooks.finish(IntStream.range(0, group.size()).toArray());
            group = null;
        }

        private float[] row(int batchIndex) {
            FloatPointer p = llama_get_logits_ith(ctx, batchIndex);
            if (p == null || p.isNull()) throw new EmovecException("llama.cpp returned no logits for batch row " + batchIndex);
            float[] out = new float[vocab];
            p.capacity(vocab).get(out);
            return out;
        }

        @Override
        public void close() {
            llama_batch_free(batch);
            llama_free(ctx);
            hooks.close();
        }
    }

    /**
     * Scores every request; results in request order. With one KV stream prompts are packed in order, as many as
     * fit the batch. With a stream per sequence llama.cpp cuts a batch into micro-batches of equally many tokens
     * per sequence, so prompts are taken shortest first and each group is padded to its longest: one micro-batch
     * a batch, and each prompt's attention runs over its own stream only.
     */
    public List<ScoreResult> score(List<ScoreRequest> requests) {
        ScoreResult[] out = new ScoreResult[requests.size()];
        scoreChunks(List.of(requests).iterator(), (chunk, i, r) -> out[i] = r);
        return Arrays.asList(out);
    }

    /** Where scoreChunks hands each result: its list's number (from 0, in the order given) and its index there. */
    @FunctionalInterface
    public interface Sink {
        void accept(int chunk, int index, ScoreResult result);
    }

    /**
     * Scores list after list as {@link #score} scores one, without letting the contexts run dry between lists:
     * the next list's first prompts are decoding while the last list's final results are read, and whatever the
     * sink does with results (called on this thread as each group finishes, a group's in request order) overlaps
     * the group still on the device. A list's results come in the order its groups ran, not its request order.
     */
    public void scoreChunks(Iterator<? extends List<ScoreRequest>> chunks, Sink sink) {
        live();
        int limit = Math.min(options.batchTokens(), options.kvPerSequence() ? llama_n_ctx_seq(lanes.get(0).ctx) : options.batchTokens());
        ArrayDeque<Lane> busy = new ArrayDeque<>(); // lanes in the order their groups were submitted
        try {
            int next = 0;
            for (int chunk = 0; chunks.hasNext(); chunk++) {
                List<ScoreRequest> requests = chunks.next();
                int[] wanted = captureLayers(requests, limit);
                int[] order = options.kvPerSequence()
                        ? IntStream.range(0, requests.size()).boxed().sorted(Comparator.comparingInt(i -> requests.get(i).tokens().length))
                                .mapToInt(Integer::intValue).toArray()
                        : IntStream.range(0, requests.size()).toArray();
                int i = 0;
                while (i < order.length) {
                    // as many prompts as fit in sequences and batch tokens (padded ones: count x the longest so far)
                    int end = i, tokens = 0;
                    while (end < order.length && end - i < options.sequences()) {
                        int len = requests.get(order[end]).tokens().length;
                        int after = options.kvPerSequence() ? (end - i + 1) * len : tokens + len;
                        if (after > options.batchTokens()) break;
                        tokens = after;
                        end++;
                    }
                    Lane lane = lanes.get(next++ % lanes.size());
                    if (lane.group != null) busy.removeFirst().collect(sink); // the oldest group is this lane's
                    if (!Arrays.equals(wanted, lane.hooks.captureLayers())) lane.hooks.captureLayers(wanted);
                    int[] where = Arrays.copyOfRange(order, i, end);
                    lane.submit(Arrays.stream(where).mapToObj(requests::get).toList(), chunk, where);
                    busy.addLast(lane);
                    i = end;
                }
            }
            while (!busy.isEmpty()) busy.removeFirst().collect(sink);
        } finally {
            for (Lane lane : lanes) lane.abandon();
        }
    }

    /** Checks the requests against what the scorer holds; the layers any of them captures. */
    private int[] captureLayers(List<ScoreRequest> requests, int limit) {
        TreeSet<Integer> layers = new TreeSet<>();
        for (ScoreRequest r : requests) {
            if (r.tokens().length > limit) {
                throw new EmovecException(r.id() + ": prompt of " + r.tokens().length + " tokens exceeds the "
                        + limit + " tokens the scorer holds per prompt: raise the batch size");
            }
            for (int t : r.candidates()) if (t < 0 || t >= vocab) throw new EmovecException(r.id() + ": candidate token " + t + " is not in the vocabulary");
            if (r.capture() != null) for (int l : r.capture().layers()) layers.add(l);
        }
        return layers.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * The mean norm of the residual after block layer over the given prompts' tokens from position `from`:
     * what a relative steering alpha multiplies.
     */
    public double meanResidualNorm(List<int[]> prompts, int layer, int from) {
        List<ScoreRequest> rs = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) rs.add(ScoreRequest.of("norm-" + i, prompts.get(i)).withCapture(CaptureRequest.mean(Span.from(from), layer)));
        double sum = 0;
        long count = 0;
        for (ScoreResult r : score(rs)) {
            sum += r.captured().meanNorms()[0] * r.captured().counts()[0];
            count += r.captured().counts()[0];
        }
        if (count == 0) throw new EmovecException("no tokens at or after position " + from + " to measure the residual norm on");
        return sum / count;
    }

    public Model model() { return model; }

    /** How many contexts score in turn (see the class comment). */
    public int lanes() { return lanes.size(); }

    /** The most micro-batches one llama_decode of this scorer was split into (tests: one a batch when padded). */
    int maxUbatches() { return maxUbatches; }

    /** The llama.cpp contexts, for tests that compare with llama.cpp's own features. */
    List<llama_context> contexts() { return lanes.stream().map(l -> l.ctx).toList(); }

    private void live() {
        if (lanes.isEmpty()) throw new IllegalStateException("scorer is closed");
    }

    @Override
    public void close() {
        for (Lane lane : lanes) lane.close();
        lanes.clear();
    }
}
