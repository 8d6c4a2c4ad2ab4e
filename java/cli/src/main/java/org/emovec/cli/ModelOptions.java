package org.emovec.cli;

import java.nio.file.Path;

import org.emovec.model.DefaultModel;

import picocli.CommandLine.Option;

/** The model a single-model command loads: --model (default: the embedded tiny model) and --gpu-layers. */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, description = "GGUF model (default: the embedded tiny random model, made on first use)")
    Path model;

    @Option(names = "--gpu-layers", defaultValue = "-1", description = "layers on the GPU, -1 = all (CUDA builds) (default: ${DEFAULT-VALUE})")
    int gpuLayers;

    /** --model, or the embedded tiny model. */
    Path path() throws java.io.IOException { return model != null ? model : DefaultModel.tiny(); }
}
