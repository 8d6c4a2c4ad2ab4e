package org.emovec.pipeline;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.emovec.engine.EmovecException;
import org.emovec.io.Npy;

/**
 * Emotion vectors from the activations, per layer, as the paper makes them: each emotion's mean activation
 * minus the mean over emotions; then the top principal components of the neutral dialogues' activations
 * (enough for pcaVariance of their variance) projected out; then unit length. vectors/L&lt;L&gt;.npy holds the
 * vectors (rows in the order of vectors.json's emotions), raw-L&lt;L&gt;.npy the vectors before projection and
 * normalisation (the paper's qualitative results hold with them too).
 */
public final class Vectors {
    /** One layer's vectors: how the projection went and the mean residual norm there (what steering alphas scale). */
    public record Layer(int layer, int pcaComponents, double pcaExplained, int neutralDialogues, double meanResidualNorm) {}

    /** vectors.json. */
    public record Meta(String convention, List<String> emotions, List<Integer> stories, List<Layer> layers) {
        public Layer layer(int l) {
            for (Layer x : layers) if (x.layer() == l) return x;
            throw new EmovecException("no vectors at layer " + l + " (extracted: " + layers.stream().map(Layer::layer).toList() + "): rerun 'emovec extract' with that layer");
        }
    }

    public static final String CONVENTION = "layer L = residual stream after block L = llama.cpp l_out-L = HF hidden_states[L+1]";

    private Vectors() {}

    static void build(RunDir dir, Settings s) throws IOException {
        List<float[][]> acts = new ArrayList<>();
        List<Extract.Summary> summaries = new ArrayList<>();
        for (String e : s.emotions()) {
            acts.add(Npy.read(Extract.activationFile(dir, e)));
            summaries.add(Extract.summary(dir, e));
        }
        List<Layer> layers = new ArrayList<>();
        for (int li = 0; li < s.layers().size(); li++) {
            int layer = s.layers().get(li);
            int n = acts.size(), d = acts.get(0)[li].length;
            double[] grand = new double[d];
            for (float[][] a : acts) for (int j = 0; j < d; j++) grand[j] += a[li][j] / (double) n;
            float[][] neutral = Npy.read(dir.activations().resolve("neutral-L" + layer + ".npy"));
            Pca.Result pca = neutral.length >= 2 ? Pca.top(neutral, s.pcaVariance()) : new Pca.Result(new double[0][], new double[0]);
            float[][] raw = new float[n][d], unit = new float[n][d];
            for (int e = 0; e < n; e++) {
                double[] v = new double[d];
                for (int j = 0; j < d; j++) v[j] = acts.get(e)[li][j] - grand[j];
                double[] p = Pca.projectOut(v, pca.components());
                double norm = 0;
                for (double x : p) norm += x * x;
                norm = Math.sqrt(norm);
                if (!(norm > 0)) throw new EmovecException("the vector of " + s.emotions().get(e) + " at layer " + layer + " is zero after projection: too few neutral dialogues or emotions");
                for (int j = 0; j < d; j++) {
                    raw[e][j] = (float) v[j];
                    unit[e][j] = (float) (p[j] / norm);
                }
            }
            Npy.write(dir.vectors().resolve("raw-L" + layer + ".npy"), raw);
            Npy.write(dir.vectors().resolve("L" + layer + ".npy"), unit);
            double normSum = 0, weight = 0;
            for (Extract.Summary sm : summaries) {
                normSum += sm.meanNorms().get(li) * sm.tokens();
                weight += sm.tokens();
            }
            layers.add(new Layer(layer, pca.components().length, pca.explained(), neutral.length, normSum / weight));
        }
        Json.write(dir.vectors().resolve("vectors.json"), new Meta(CONVENTION, s.emotions(), summaries.stream().map(Extract.Summary::texts).toList(), layers));
    }

    public static Meta meta(RunDir dir) throws IOException {
        if (!java.nio.file.Files.exists(dir.vectors().resolve("vectors.json"))) throw new EmovecException(dir.root() + " has no vectors yet: run 'emovec extract' first");
        return Json.read(dir.vectors().resolve("vectors.json"), Meta.class);
    }

    /** The unit vectors at a layer, one row per emotion of {@link Meta#emotions()}. */
    public static float[][] load(RunDir dir, int layer) throws IOException {
        meta(dir).layer(layer);
        return Npy.read(dir.vectors().resolve("L" + layer + ".npy"));
    }
}
