package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import org.emovec.llama.emovec_hooks;
import org.emovec.llama.llama_context_params;

/**
 * emovec's hooks on one llama.cpp context (see native/include/emovec.h): logits reduction for sampling, and
 * capture and steering of the residual stream per sequence. Sequences are llama.cpp sequence ids 0..slots-1.
 */
final class Hooks implements AutoCloseable {
    private final emovec_hooks handle;
    private final int width, layers, slots;
    private int[] captureLayers = new int[0];
    private final Map<float[], Integer> vectorIndex = new IdentityHashMap<>();
    private final List<float[]> vectors = new ArrayList<>();
    private final CaptureRequest[] captures;
    private final int[] captureLength;

    Hooks(Model model, int slots, int topK) {
        this.handle = emovec_hooks_new(topK);
        this.width = model.width();
        this.layers = model.layers();
        this.slots = slots;
        this.captures = new CaptureRequest[slots];
        this.captureLength = new int[slots];
        captureLayers(new int[0]);
        // emovec.hookDiagnostics=1: ask for the residual tensors but do no work (benchmarks isolate the graph split)
        emovec_hooks_diagnostics(handle, Integer.getInteger("emovec.hookDiagnostics", 0));
    }

    emovec_hooks handle() { return handle; }

    /** Installs the hooks in context parameters. */
    void install(llama_context_params p) {
        p.cb_eval(emovec_hooks_callback()).cb_eval_user_data(handle);
    }

    int[] captureLayers() { return captureLayers; }

    /** Sets the layers that may be captured; forgets every capture, steer and vector. */
    void captureLayers(int[] layerList) {
        int[] sorted = Arrays.stream(layerList).sorted().distinct().toArray();
        for (int l : sorted) checkLayer(l);
        if (emovec_residual_init(handle, width, layers, slots, sorted.length, sorted) != 0) throw new IllegalStateException("emovec_residual_init");
        captureLayers = sorted;
        vectorIndex.clear();
        vectors.clear();
        Arrays.fill(captures, null);
    }

    void checkLayer(int layer) {
        if (layer < 0 || layer >= layers) {
            throw new EmovecException("layer " + layer + " is out of range: this model has layers 0.." + (layers - 1)
                    + " (layer L = the residual after block L = HF hidden_states[L+1])");
        }
    }

    /** Sequence seq, of tokens length, captures as asked (its layers must be among the capture layers). */
    void capture(int seq, CaptureRequest request, int tokens) {
        for (int l : request.layers()) {
            checkLayer(l);
            if (Arrays.binarySearch(captureLayers, l) < 0) {
                throw new EmovecException("layer " + l + " is not among the layers this run captures " + Arrays.toString(captureLayers));
            }
        }
        Span s = request.span().clip(tokens);
        if (emovec_capture_set(handle, seq, s.from(), s.to(), request.reduction() == CaptureRequest.Reduction.ROWS ? 1 : 0) != 0) {
            throw new EmovecException("cannot capture " + s + " of sequence " + seq + " (too many rows to keep?)");
        }
        captures[seq] = request;
        captureLength[seq] = tokens;
    }

    void steer(int seq, List<Steering> steering) {
        for (Steering s : steering) {
            checkLayer(s.layer());
            if (s.vector().length != width) {
                throw new EmovecException("steering vector has " + s.vector().length + " values, the model's width is " + width);
            }
            Integer v = vectorIndex.get(s.vector());
            if (v == null) {
                v = vectors.size();
                vectors.add(s.vector());
                vectorIndex.put(s.vector(), v);
                float[] all = new float[vectors.size() * width];
                for (int i = 0; i < vectors.size(); i++) System.arraycopy(vectors.get(i), 0, all, i * width, width);
                emovec_residual_vectors(handle, vectors.size(), all);
            }
            int to = s.span().to() == Span.END ? Integer.MAX_VALUE : s.span().to();
            if (emovec_steer_add(handle, seq, s.layer(), v, (float) s.alpha(), s.span().from(), to) != 0) {
                throw new IllegalStateException("emovec_steer_add");
            }
        }
    }

    /** Reads and forgets sequence seq's capture, and its steering; null when it captured nothing. */
    Captured finish(int seq) {
        emovec_steer_clear(handle, seq);
        CaptureRequest request = captures[seq];
        if (request == null) return null;
        int n = captureLayers.length;
        float[] means = new float[n * width], norms = new float[n];
        long[] counts = new long[n];
        if (emovec_capture_read(handle, seq, means, norms, counts) != 0) throw new EmovecException("reading the capture of sequence " + seq + " failed");
        Span span = request.span().clip(captureLength[seq]);
        float[][][] rows = null;
        if (request.reduction() == CaptureRequest.Reduction.ROWS) {
            float[] all = new float[span.length() * n * width];
            byte[] have = new byte[span.length() * n];
            emovec_capture_rows(handle, seq, all, have);
            rows = new float[span.length()][request.layers().length][];
            for (int p = 0; p < span.length(); p++) {
                for (int i = 0; i < request.layers().length; i++) {
                    int c = Arrays.binarySearch(captureLayers, request.layers()[i]);
                    if (have[p * n + c] != 0) rows[p][i] = Arrays.copyOfRange(all, (p * n + c) * width, (p * n + c + 1) * width);
                }
            }
        }
        float[][] m = new float[request.layers().length][];
        double[] meanNorms = new double[m.length];
        long[] cnt = new long[m.length];
        for (int i = 0; i < m.length; i++) {
            int c = Arrays.binarySearch(captureLayers, request.layers()[i]);
            m[i] = Arrays.copyOfRange(means, c * width, (c + 1) * width);
            meanNorms[i] = norms[c];
            cnt[i] = counts[c];
        }
        emovec_capture_clear(handle, seq);
        captures[seq] = null;
        return new Captured(request.layers(), span, m, meanNorms, cnt, rows);
    }

    /** Before llama_decode: the batch about to be decoded. */
    void begin(int n, int[] pos, int[] seqs, byte[] wantLogits, int nUbatch, boolean splitEqual) {
        emovec_hooks_begin(handle, n, pos, seqs, wantLogits, nUbatch, splitEqual);
    }

    /** After llama_decode: throws when the hooks lost track of the batch. */
    void check() {
        String e = emovec_hooks_error(handle).getString();
        if (!e.isEmpty()) throw new EmovecException("residual hooks: " + e);
    }

    @Override
    public void close() { emovec_hooks_free(handle); }
}
