package org.emovec.cli;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;

import org.emovec.engine.EmovecException;
import org.emovec.io.ControlVectorFile;
import org.emovec.io.Npy;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "control-vector", mixinStandardHelpOptions = true,
        description = {"Export a vector (.npy, d_model floats) as a llama.cpp control-vector GGUF for llama-cli --control-vector.",
                "llama.cpp adds it at every token to the output of each given block (layer L = l_out-L = HF hidden_states[L+1]); layer 0 cannot be steered this way."})
final class ControlVectorCommand implements Callable<Integer> {
    @Option(names = "--vector", required = true, description = "vector .npy (1 x d_model or d_model)")
    Path vector;

    @Option(names = "--layers", required = true, description = "layers to steer, e.g. 21 or 18-22")
    String layers;

    @Option(names = "--model-layers", required = true, description = "the model's number of layers")
    int modelLayers;

    @Option(names = "--scale", defaultValue = "1", description = "written = scale x vector (llama-cli's --control-vector-scaled scales again) (default: ${DEFAULT-VALUE})")
    double scale;

    @Option(names = {"-o", "--out"}, required = true, description = "output .gguf")
    Path out;

    @Override
    public Integer call() throws Exception {
        float[][] v = Npy.read(vector);
        if (v.length != 1) throw new EmovecException(vector + ": expected one vector, found " + v.length + " rows");
        Map<Integer, float[]> byLayer = new HashMap<>();
        for (int l : CaptureCommand.parseLayers(layers, modelLayers)) byLayer.put(l, v[0]);
        try {
            ControlVectorFile.write(out, byLayer, scale, modelLayers, "llama");
        } catch (IllegalArgumentException e) {
            throw new EmovecException(e.getMessage());
        }
        System.err.println("emovec: wrote " + out);
        return 0;
    }
}
