package org.emovec.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import org.emovec.gguf.GgmlType;
import org.emovec.gguf.GgufValue;
import org.emovec.gguf.GgufWriter;

/**
 * llama.cpp control-vector GGUF files, as {@code llama-cli --control-vector FILE} reads them: one F32 tensor
 * "direction.L" per layer, added to the output of block L (our layer L, llama.cpp "l_out-L") at every token.
 * llama.cpp cannot steer layer 0 this way (it rejects "direction.0").
 */
public final class ControlVectorFile {
    private ControlVectorFile() {}

    /** Writes scale * vector at each layer. */
    public static void write(Path target, Map<Integer, float[]> byLayer, double scale, int modelLayers, String modelHint) throws IOException {
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", GgufValue.of("controlvector"));
        w.put("controlvector.model_hint", GgufValue.of(modelHint));
        w.put("controlvector.layer_count", GgufValue.u32(modelLayers));
        for (Map.Entry<Integer, float[]> e : new TreeMap<>(byLayer).entrySet()) {
            int layer = e.getKey();
            if (layer < 1 || layer >= modelLayers) {
                throw new IllegalArgumentException("a control vector can steer layers 1.." + (modelLayers - 1) + ", not " + layer + " (llama.cpp ignores layer 0)");
            }
            float[] v = e.getValue();
            ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : v) b.putFloat((float) (x * scale));
            w.tensor("direction." + layer, new long[] {v.length}, GgmlType.F32, b.flip());
        }
        w.write(target); // GgufWriter writes to a temporary name and renames
    }
}
