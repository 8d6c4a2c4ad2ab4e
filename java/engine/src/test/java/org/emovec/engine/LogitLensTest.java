package org.emovec.engine;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Random;

import org.emovec.gguf.GgufFile;
import org.emovec.model.ModelMaker;
import org.emovec.model.ModelPreset;
import org.emovec.model.TestModels;
import org.emovec.model.WeightFormat;
import org.junit.jupiter.api.Test;

/** The logit lens equals W_U (g * v) computed here from the GGUF's own floats, for F32 and for F16 and Q8_0 (ggml dequantizes). */
class LogitLensTest {
    @Test
    void lensIsTheUnembeddingOfTheNormScaledDirection() throws Exception {
        for (WeightFormat format : new WeightFormat[] {WeightFormat.F32, WeightFormat.F16, WeightFormat.Q8_0}) {
            Path model = TestModels.dir().resolve("lens-" + format + ".gguf");
            ModelMaker.make(ModelPreset.TINY, format, 4, model);
            float[][] dirs = new float[2][ModelPreset.TINY.width];
            Random r = new Random(1);
            for (float[] d : dirs) for (int i = 0; i < d.length; i++) d[i] = (float) r.nextGaussian();
            float[][] lens = LogitLens.logits(model, dirs);
            try (GgufFile f = GgufFile.open(model)) {
                float[] w = f.floats("token_embd.weight"), g = f.floats("output_norm.weight"); // the tiny preset ties the output
                int width = g.length, vocab = w.length / width;
                assertEquals(vocab, lens[0].length);
                for (int d = 0; d < dirs.length; d++) {
                    for (int t = 0; t < vocab; t += 997) {
                        double s = 0;
                        for (int i = 0; i < width; i++) s += (double) w[t * width + i] * g[i] * dirs[d][i];
                        assertEquals(s, lens[d][t], 1e-4 * (1 + Math.abs(s)), format + " token " + t);
                    }
                }
            }
        }
    }
}
