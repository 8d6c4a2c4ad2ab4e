package org.emovec.engine;

import static org.emovec.llama.global.LlamaCpp.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.emovec.llama.emovec_hooks;
import org.emovec.llama.llama_context;

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
    private FloatPointer readBuffer;

    Hooks(Model model, int slots, int topK) {
        this.handle = emovec_hooks_new(topK);
        this.width = model.width();
        this.layers = model.layers();
        this.slots = slots;
        this.captures = new CaptureRequest[slots];
        this.captureLength = new int[slots];
        captureLayers(new int[0]);
        // emovec.hookDiagnostics: 1 = split the graph at the residual tensors but do no work there (benchmarks isolate
        // the cost of the split); 4 = llama.cpp copies the logits to the host after every decode (what that copy costs)
        emovec_hooks_diagnostics(handle, Integer.getInteger("emovec.hookDiagnostics", 0));
    }

    emovec_hooks handle() { return handle; }

    /** The context the hooks serve, before its first decode (they wrap its backends' graph computation). */
    void attach(llama_context ctx) {
        emovec_hooks_attach(handle, ctx);
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

    void checkLayer(int layer) { Model.checkLayer(layer, layers); }

    /** Sequence seq, of tokens length, captures as asked (its layers must be among the capture layers). */
    void capture(int seq, CaptureRequest request, int tokens) {
        for (int l : request.layers()) {
            checkLayer(l);
            if (Arrays.binarySearch(captureLayers, l) < 0) {
                throw new EmovecException("layer " + l + " is not among the layers this run captures " + Arrays.toString(captureLayers));
            }
        }
        Span s = request.span().clip(tokens);
        if (emovec_capture_set(handle, seq, s.from(), s.to(), request.reduction() == CaptureRequest.Reduction.ROWS ? 1 : 0,
                request.layers().length, request.layers()) != 0) {
            throw new EmovecException("cannot capture " + s + " of sequence " + seq + " (too many rows to keep?)");
        }
        captures[seq] = request;
        captureLength[seq] = tokens;
    }

    void steer(int seq, List<Steering> steering) {
        for (int i = 0; i < steering.size(); i++) {
            for (int j = 0; j < i; j++) {
                Steering a = steering.get(i), b = steering.get(j);
                if (a.layer() == b.layer() && a.span().from() < b.span().to() && b.span().from() < a.span().to()) {
                    throw new EmovecException("two steerings of one sequence at layer " + a.layer() + " overlap (" + b.span() + " and " + a.span()
                            + "): give each position at most one vector per layer (add the vectors first)");
                }
            }
        }
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
        return finish(new int[] {seq})[0];
    }

    /**
     * Reads and forgets these sequences' captures (null where none) and steering; sequences that captured the
     * same layers are read together, in one device copy.
     */
    Captured[] finish(int[] seqs) {
        Captured[] out = new Captured[seqs.length];
        Map<String, List<Integer>> byLayers = new java.util.LinkedHashMap<>();
        for (int i = 0; i < seqs.length; i++) {
            emovec_steer_clear(handle, seqs[i]);
            if (captures[seqs[i]] != null) byLayers.computeIfAbsent(Arrays.toString(captures[seqs[i]].layers()), k -> new ArrayList<>()).add(i);
        }
        for (List<Integer> group : byLayers.values()) {
            int[] layerList = captures[seqs[group.get(0)]].layers();
            int[] which = group.stream().mapToInt(i -> seqs[i]).toArray();
            int nl = layerList.length;
            float[] norms = new float[which.length * nl];
            long[] counts = new long[which.length * nl];
            FloatPointer means = readBuffer((long) which.length * nl * width);
            try (IntPointer seqList = new IntPointer(which); IntPointer layerPointer = new IntPointer(layerList);
                    FloatPointer normList = new FloatPointer(norms.length); LongPointer countList = new LongPointer(counts.length)) {
                if (emovec_capture_read(handle, which.length, seqList, nl, layerPointer, means, normList, countList) != 0) {
                    throw new EmovecException("reading the captures of sequences " + Arrays.toString(which) + " failed");
                }
                normList.get(norms);
                countList.get(counts);
            }
            for (int k = 0; k < which.length; k++) {
                int seq = which[k];
                CaptureRequest request = captures[seq];
                float[][] m = new float[nl][];
                double[] meanNorms = new double[nl];
                long[] cnt = new long[nl];
                for (int i = 0; i < nl; i++) {
                    int o = k * nl + i;
                    m[i] = new float[width];
                    means.position((long) o * width).get(m[i]);
                    meanNorms[i] = norms[o];
                    cnt[i] = counts[o];
                }
                Span span = request.span().clip(captureLength[seq]);
                float[][][] rows = request.reduction() == CaptureRequest.Reduction.ROWS ? keptRows(seq, request, span) : null;
                emovec_capture_clear(handle, seq);
                captures[seq] = null;
                out[group.get(k)] = new Captured(request.layers(), span, m, meanNorms, cnt, rows);
            }
        }
        return out;
    }

    /**
     * Native memory for the means read back, kept between reads: a read of every sequence at every layer is 100+
     * MB, and a Java array would be copied through JNI twice more.
     */
    private FloatPointer readBuffer(long floats) {
        if (readBuffer == null || readBuffer.capacity() < floats) {
            if (readBuffer != null) readBuffer.close();
            readBuffer = new FloatPointer(floats);
        }
        return readBuffer.position(0);
    }

    private float[][][] keptRows(int seq, CaptureRequest request, Span span) {
        int n = captureLayers.length;
        float[] all = new float[span.length() * n * width];
        byte[] have = new byte[span.length() * n];
        emovec_capture_rows(handle, seq, all, have);
        float[][][] rows = new float[span.length()][request.layers().length][];
        for (int p = 0; p < span.length(); p++) {
            for (int i = 0; i < request.layers().length; i++) {
                int c = Arrays.binarySearch(captureLayers, request.layers()[i]);
                if (have[p * n + c] != 0) rows[p][i] = Arrays.copyOfRange(all, (p * n + c) * width, (p * n + c + 1) * width);
            }
        }
        return rows;
    }

    /**
     * Before llama_decode: the batch about to be decoded; seqsPerStream: 0 where the context has one KV stream, else
     * the sequences each stream holds (they decide llama.cpp's split into ubatches); hostLogits when the caller reads
     * logits rows beyond the hooks' candidates (else llama.cpp may leave them on the device: see emovec_hooks_begin).
     */
    void begin(int n, int[] pos, int[] seqs, byte[] wantLogits, int nUbatch, int seqsPerStream, boolean hostLogits) {
        emovec_hooks_begin(handle, n, pos, seqs, wantLogits, nUbatch, seqsPerStream, hostLogits);
    }

    /** Micro-batches llama.cpp splits the batch given to the last {@link #begin} into. */
    int ubatches() { return emovec_hooks_ubatches(handle); }

    /**
     * After llama_decode and llama_synchronize: reduces the logits of the decode's last ubatch (see
     * emovec_hooks_end); throws when the hooks lost track of the batch.
     */
    void end() {
        emovec_hooks_end(handle);
        String e = emovec_hooks_error(handle).getString();
        if (!e.isEmpty()) throw new EmovecException("residual hooks: " + e);
    }

    /** After {@link #end}: whether llama.cpp copied the decode's logits to the host (else they stayed on the device). */
    boolean logitsCopied() { return emovec_hooks_logits_copied(handle); }

    @Override
    public void close() {
        emovec_hooks_free(handle);
        if (readBuffer != null) readBuffer.close();
    }
}
