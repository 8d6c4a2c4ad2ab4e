package org.emovec.reference;

import java.nio.file.Path;
import java.util.List;

import org.emovec.engine.Steering;
import org.emovec.gguf.GgufFile;

/**
 * The Llama forward pass in plain Java, in double precision, over a GGUF's weights: the independent reference
 * that emovec's captures, steering and logits are tested against. Written to be read in one sitting; it
 * follows llama.cpp's conventions for the llama architecture:
 *  - a weight of ggml dims {in, out} is out rows of in values: y[o] = sum_i W[o][i] x[i];
 *  - RoPE rotates adjacent pairs (x[2i], x[2i+1]) of each head (llama.cpp's NORM mode; GGUF files hold Q and K
 *    permuted for it) by pos * base^(-2i/d) / rope_freqs[i] (Llama 3's frequency scaling);
 *  - layer L's output is the residual after block L (llama.cpp "l_out-L", HF hidden_states[L+1]); steering
 *    adds alpha * v to it at the positions of a span.
 * Tiny models only: it is slow and holds every weight as float.
 */
public final class ReferenceLlama {
    private final int width, layers, heads, kvHeads, headDim, ffn, vocab;
    private final double eps, ropeBase;
    private final float[] ropeFreqs;
    private final float[] tokEmbd, outputNorm, output;
    private final Block[] blocks;

    private record Block(float[] attnNorm, float[] wq, float[] wk, float[] wv, float[] wo,
                         float[] ffnNorm, float[] gate, float[] up, float[] down) {}

    /** Per position: the residual after each block, and the logits. */
    public record Forward(double[][][] residual, double[][] logits) {
        /** residual[position][layer] */
        public double[] residual(int position, int layer) { return residual[position][layer]; }
    }

    private ReferenceLlama(GgufFile g) {
        width = (int) g.integer("llama.embedding_length");
        layers = (int) g.integer("llama.block_count");
        heads = (int) g.integer("llama.attention.head_count");
        kvHeads = (int) g.integer("llama.attention.head_count_kv");
        ffn = (int) g.integer("llama.feed_forward_length");
        headDim = width / heads;
        eps = g.get("llama.attention.layer_norm_rms_epsilon").asDouble();
        ropeBase = g.get("llama.rope.freq_base").asDouble();
        ropeFreqs = g.tensors().containsKey("rope_freqs.weight") ? g.floats("rope_freqs.weight") : null;
        tokEmbd = g.floats("token_embd.weight");
        vocab = tokEmbd.length / width;
        outputNorm = g.floats("output_norm.weight");
        output = g.tensors().containsKey("output.weight") ? g.floats("output.weight") : tokEmbd;
        blocks = new Block[layers];
        for (int l = 0; l < layers; l++) {
            String b = "blk." + l + ".";
            blocks[l] = new Block(g.floats(b + "attn_norm.weight"), g.floats(b + "attn_q.weight"), g.floats(b + "attn_k.weight"),
                    g.floats(b + "attn_v.weight"), g.floats(b + "attn_output.weight"), g.floats(b + "ffn_norm.weight"),
                    g.floats(b + "ffn_gate.weight"), g.floats(b + "ffn_up.weight"), g.floats(b + "ffn_down.weight"));
        }
    }

    public static ReferenceLlama load(Path gguf) {
        try (GgufFile g = GgufFile.open(gguf)) {
            return new ReferenceLlama(g);
        }
    }

    public int vocab() { return vocab; }

    /** Runs one sequence, with steering (alpha * vector after block layer, at the span's positions). */
    public Forward forward(int[] tokens, List<Steering> steering) {
        int n = tokens.length;
        double[][] x = new double[n][];
        for (int p = 0; p < n; p++) x[p] = row(tokEmbd, tokens[p], width);
        double[][][] residual = new double[n][layers][];
        double[][] keys = new double[n][], values = new double[n][];
        for (int l = 0; l < layers; l++) {
            Block b = blocks[l];
            // attention: every position's K and V first (causal: position p sees 0..p)
            double[][] queries = new double[n][];
            for (int p = 0; p < n; p++) {
                double[] h = rmsNorm(x[p], b.attnNorm());
                queries[p] = rope(matVec(b.wq(), h, heads * headDim), p, heads);
                keys[p] = rope(matVec(b.wk(), h, kvHeads * headDim), p, kvHeads);
                values[p] = matVec(b.wv(), h, kvHeads * headDim);
            }
            for (int p = 0; p < n; p++) {
                double[] attn = new double[heads * headDim];
                for (int hd = 0; hd < heads; hd++) {
                    int kv = hd / (heads / kvHeads);
                    double[] score = new double[p + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int s = 0; s <= p; s++) {
                        double dot = 0;
                        for (int i = 0; i < headDim; i++) dot += queries[p][hd * headDim + i] * keys[s][kv * headDim + i];
                        score[s] = dot / Math.sqrt(headDim);
                        max = Math.max(max, score[s]);
                    }
                    double sum = 0;
                    for (int s = 0; s <= p; s++) sum += score[s] = Math.exp(score[s] - max);
                    for (int s = 0; s <= p; s++) {
                        for (int i = 0; i < headDim; i++) attn[hd * headDim + i] += score[s] / sum * values[s][kv * headDim + i];
                    }
                }
                add(x[p], matVec(b.wo(), attn, width));
                // feed-forward: SwiGLU
                double[] h = rmsNorm(x[p], b.ffnNorm());
                double[] gate = matVec(b.gate(), h, ffn), up = matVec(b.up(), h, ffn);
                for (int i = 0; i < ffn; i++) gate[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                add(x[p], matVec(b.down(), gate, width));
                for (Steering s : steering) {
                    if (s.layer() == l && s.span().contains(p)) {
                        for (int i = 0; i < width; i++) x[p][i] += s.alpha() * s.vector()[i];
                    }
                }
                residual[p][l] = x[p].clone();
            }
        }
        double[][] logits = new double[n][];
        for (int p = 0; p < n; p++) logits[p] = matVec(output, rmsNorm(x[p], outputNorm), vocab);
        return new Forward(residual, logits);
    }

    private double[] rmsNorm(double[] x, float[] weight) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double scale = 1 / Math.sqrt(ss / x.length + eps);
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * scale * weight[i];
        return y;
    }

    private double[] rope(double[] x, int pos, int nHeads) {
        for (int h = 0; h < nHeads; h++) {
            for (int i = 0; i < headDim / 2; i++) {
                double theta = pos * Math.pow(ropeBase, -2.0 * i / headDim) / (ropeFreqs == null ? 1 : ropeFreqs[i]);
                double c = Math.cos(theta), s = Math.sin(theta);
                int a = h * headDim + 2 * i;
                double x0 = x[a], x1 = x[a + 1];
                x[a] = x0 * c - x1 * s;
                x[a + 1] = x0 * s + x1 * c;
            }
        }
        return x;
    }

    private static double[] matVec(float[] w, double[] x, int out) {
        double[] y = new double[out];
        int in = x.length;
        for (int o = 0; o < out; o++) {
            double acc = 0;
            int base = o * in;
            for (int i = 0; i < in; i++) acc += w[base + i] * x[i];
            y[o] = acc;
        }
        return y;
    }

    private static double[] row(float[] m, int r, int n) {
        double[] y = new double[n];
        for (int i = 0; i < n; i++) y[i] = m[r * n + i];
        return y;
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) x[i] += y[i];
    }

}
