package org.emovec.engine;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.stream.IntStream;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.emovec.gguf.GgufException;
import org.emovec.gguf.GgufFile;
import org.emovec.gguf.TensorInfo;
import org.emovec.llama.global.LlamaCpp;

/**
 * The direct effect of residual-stream directions on the output logits ("logit lens"): logits = W_U (g * v),
 * where W_U is the unembedding (output.weight, or token_embd.weight when the model ties them) and g the final
 * RMSNorm's weight. Directions are taken as they are (no normalisation by the RMS: that only scales all logits
 * of one direction alike). Reads W_U straight from the GGUF in runs of rows, whatever its quantization (ggml
 * dequantizes), so an 8B unembedding never sits in the Java heap whole.
 */
public final class LogitLens {
    private static final int ROWS_PER_READ = 2048;

    private LogitLens() {}

    /** logits[d][token] for each direction d (all of the model's width). */
    public static float[][] logits(Path model, float[][] directions) {
        Native.init();
        try (GgufFile f = GgufFile.open(model)) {
            TensorInfo w = f.tensors().containsKey("output.weight") ? f.tensor("output.weight") : f.tensor("token_embd.weight");
            int width = (int) w.dims()[0], vocab = (int) w.dims()[1];
            float[] norm = f.floats("output_norm.weight");
            float[][] scaled = new float[directions.length][];
            for (int d = 0; d < directions.length; d++) {
                if (directions[d].length != width) throw new EmovecException("a direction of width " + directions[d].length + " does not fit the model's width " + width);
                scaled[d] = new float[width];
                for (int i = 0; i < width; i++) scaled[d][i] = directions[d][i] * norm[i];
            }
            float[][] out = new float[directions.length][vocab];
            long rowBytes = w.type().bytesFor(width);
            for (int first = 0; first < vocab; first += ROWS_PER_READ) {
                int rows = Math.min(ROWS_PER_READ, vocab - first);
                ByteBuffer raw = f.rawRange(w, first * rowBytes, (int) (rows * rowBytes));
                float[] values = new float[rows * width];
                try (FloatPointer dst = new FloatPointer((long) values.length)) {
                    if (LlamaCpp.emovec_dequantize(w.type().id, new Pointer(raw), dst, values.length) != 0) {
                        throw new GgufException(model, "tensor '" + w.name() + "' has type " + w.type() + ", which ggml cannot dequantize");
                    }
                    dst.get(values);
                }
                int base = first;
                IntStream.range(0, rows).parallel().forEach(r -> {
                    int at = r * width;
                    for (int d = 0; d < scaled.length; d++) {
                        float[] v = scaled[d];
                        double s = 0;
                        for (int i = 0; i < width; i++) s += values[at + i] * v[i];
                        out[d][base + r] = (float) s;
                    }
                });
            }
            return out;
        }
    }
}
