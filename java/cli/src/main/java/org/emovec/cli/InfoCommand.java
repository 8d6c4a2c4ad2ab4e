package org.emovec.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import org.emovec.engine.ModelCheck;
import org.emovec.engine.VramPlan;
import org.emovec.gguf.GgufFile;
import org.emovec.gguf.ModelSummary;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show a GGUF model's architecture, shape, vocabulary, quantization and size (reads the header only).")
final class InfoCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "a .gguf model file")
    Path model;

    @Option(names = "--json", description = "print JSON instead of a table")
    boolean json;

    @Option(names = "--debug", hidden = true)
    boolean debug;

    @Override
    public Integer call() throws Exception {
        ModelCheck.check(model);
        ModelSummary s;
        try (GgufFile f = GgufFile.open(model)) {
            s = ModelSummary.of(f);
        }
        if (json) {
            System.out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(s));
            return 0;
        }
        System.out.printf("model          %s%n", s.path());
        System.out.printf("name           %s%n", s.name());
        System.out.printf("architecture   %s%n", s.architecture());
        System.out.printf("layers         %d  (emovec layer L = llama.cpp l_out-L = HF hidden_states[L+1], L in 0..%d)%n", s.layers(), s.layers() - 1);
        System.out.printf("width          %d%n", s.width());
        System.out.printf("heads          %d (KV heads %d)%n", s.heads(), s.kvHeads());
        System.out.printf("feed-forward   %d%n", s.ffn());
        System.out.printf("vocabulary     %d tokens%n", s.vocab());
        System.out.printf("context        %d tokens (trained)%n", s.trainedContext());
        System.out.printf("quantization   %s%n", s.quantization());
        System.out.printf("tensor types   %s%n", s.tensorTypes());
        System.out.printf("parameters     %,d%n", s.parameters());
        System.out.printf("size on disk   %.1f MiB%n", s.fileBytes() / (1024.0 * 1024.0));
        System.out.printf("chat template  %s%n", s.chatTemplate());
        VramPlan.Footprint fp = VramPlan.Footprint.of(model);
        System.out.printf("GPU memory     weights %.1f MiB with all layers on the GPU; KV cache %.1f KiB per token (F16); --vram-budget plans the rest%n",
                fp.weightBytes() / 1048576.0, fp.kvBytesPerToken() / 1024.0);
        return 0;
    }
}
