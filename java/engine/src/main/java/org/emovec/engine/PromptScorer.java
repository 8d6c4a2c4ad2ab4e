package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.emovec.llama.llama_batch;
import org.emovec.llama.llama_context;
import org.emovec.llama.llama_context_params;

/**
 * Runs prompts through the model without generating -- many per llama_decode -- and reads chosen next-token
 * logits, captures the residual stream and steers it, per prompt. This is the engine of extraction
 * (mean residual over a story), preference scoring (logit of "A" vs "B") and steering.
 */
public final class PromptScorer implements AutoCloseable {
    private static final int GGML_TYPE_F32 = 0;
    private static final int FLASH_ATTN_DISABLED = 0;

    private final Model model;
    private final ScorerOptions options;
    private llama_context ctx;
    private final llama_batch batch;
    private final Hooks hooks;
    private final int vocab;

    public PromptScorer(Model model, ScorerOptions options) {
        this.model = model;
        this.options = options;
        this.vocab = model.vocabSize();
        llama_context_params p = llama_context_default_params();
        long ctxTokens = options.batchTokens(); // one stream: the whole batch; a stream per sequence: an equal share each
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

    /** Scores every request; results in request order. */
    public List<ScoreResult> score(List<ScoreRequest> requests) {
        live();
        int limit = options.kvPerSequence() ? llama_n_ctx_seq(ctx) : options.batchTokens();
        TreeSet<Integer> layers = new TreeSet<>();
        for (ScoreRequest r : requests) {
            if (r.tokens().length > Math.min(limit, options.batchTokens())) {
                throw new EmovecException(r.id() + ": prompt of " + r.tokens().length + " tokens exceeds the scoring batch of "
                        + Math.min(limit, options.batchTokens()) + " tokens: raise the batch size");
            }
            for (int t : r.candidates()) if (t < 0 || t >= vocab) throw new EmovecException(r.id() + ": candidate token " + t + " is not in the vocabulary");
            if (r.capture() != null) for (int l : r.capture().layers()) layers.add(l);
        }
        int[] wanted = layers.stream().mapToInt(Integer::intValue).toArray();
        if (!Arrays.equals(wanted, hooks.captureLayers())) hooks.captureLayers(wanted);

        List<ScoreResult> out = new ArrayList<>(requests.size());
        int i = 0;
        while (i < requests.size()) {
            // pack: as many prompts as fit in sequences and batch tokens, sequence-major
            int end = i, tokens = 0;
            while (end < requests.size() && end - i < options.sequences() && tokens + requests.get(end).tokens().length <= options.batchTokens()) {
                tokens += requests.get(end).tokens().length;
                end++;
            }
            out.addAll(decodeGroup(requests.subList(i, end), tokens));
            i = end;
        }
        return out;
    }

    private List<ScoreResult> decodeGroup(List<ScoreRequest> group, int n) {
        int[] tok = new int[n], pos = new int[n], seq = new int[n], last = new int[group.size()];
        byte[] want = new byte[n];
        int k = 0;
        for (int s = 0; s < group.size(); s++) {
            ScoreRequest r = group.get(s);
            for (int p = 0; p < r.tokens().length; p++, k++) {
                tok[k] = r.tokens()[p]; pos[k] = p; seq[k] = s;
                want[k] = (byte) (r.allLogits() || p == r.tokens().length - 1 ? 1 : 0);
            }
            last[s] = k - 1;
            if (r.capture() != null) hooks.capture(s, r.capture(), r.tokens().length);
            hooks.steer(s, r.steering());
        }
        Pointer memory = llama_get_memory(ctx);
        llama_memory_clear(memory, true);
        emovec_batch_fill(batch, n, tok, pos, seq, want);
        hooks.begin(n, pos, seq, want, llama_n_ubatch(ctx), options.kvPerSequence() && options.sequences() > 1, true);
        int rc = llama_decode(ctx, batch);
        if (rc != 0) {
            String why = Native.lastErrorSuffix();
            hooks.finish(java.util.stream.IntStream.range(0, group.size()).toArray());
            throw new EmovecException("llama_decode failed with code " + rc + why);
        }
        llama_synchronize(ctx);
        List<ScoreResult> results = new ArrayList<>(group.size());
        RuntimeException hookError = null;
        try {
            hooks.end();
        } catch (RuntimeException e) {
            hookError = e;
        }
        Captured[] captured = hooks.finish(java.util.stream.IntStream.range(0, group.size()).toArray());
        int start = 0;
        for (int s = 0; s < group.size(); s++) {
            ScoreRequest r = group.get(s);
            float[] cand = new float[r.candidates().length];
            if (cand.length > 0) {
                float[] lastRow = row(last[s]);
                for (int c = 0; c < cand.length; c++) cand[c] = lastRow[r.candidates()[c]];
            }
            float[][] all = null;
            if (r.allLogits()) {
                all = new float[r.tokens().length][];
                for (int p = 0; p < all.length; p++) all[p] = row(start + p);
            }
            results.add(new ScoreResult(r.id(), cand, all, captured[s]));
            start += r.tokens().length;
        }
        if (hookError != null) throw hookError;
        return results;
    }

    private float[] row(int batchIndex) {
        FloatPointer p = llama_get_logits_ith(ctx, batchIndex);
        if (p == null || p.isNull()) throw new EmovecException("llama.cpp returned no logits for batch row " + batchIndex);
        float[] out = new float[vocab];
        p.capacity(vocab).get(out);
        return out;
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

    /** The llama.cpp context, for tests that compare with llama.cpp's own features. */
    llama_context context() { return ctx; }

    private void live() {
        if (ctx == null) throw new IllegalStateException("scorer is closed");
    }

    @Override
    public void close() {
        if (ctx != null) {
            llama_batch_free(batch);
            llama_free(ctx);
            ctx = null;
            hooks.close();
        }
    }
}
