package org.emovec.engine;

import java.nio.file.Path;
import java.util.Set;

import org.emovec.gguf.GgufException;
import org.emovec.gguf.GgufFile;

/**
 * Checks a GGUF file in Java before llama.cpp sees it, so bad input fails with a one-line message that
 * names the file, the problem and the fix, rather than a native abort.
 */
public final class ModelCheck {
    /** Architectures whose residual stream and weights emovec knows (the Llama family's graph). */
    public static final Set<String> SUPPORTED_ARCHITECTURES = Set.of("llama");

    private ModelCheck() {}

    /** Returns the architecture name, or throws EmovecException with the reason. */
    public static String check(Path path) {
        try (GgufFile f = GgufFile.open(path)) {
            String arch = f.metadata().containsKey("general.architecture") ? f.string("general.architecture") : null;
            if (arch == null) throw new EmovecException(path + ": no general.architecture in the GGUF metadata: not a model file");
            if (!SUPPORTED_ARCHITECTURES.contains(arch)) {
                throw new EmovecException(path + ": unsupported architecture '" + arch + "': emovec supports "
                        + String.join(", ", SUPPORTED_ARCHITECTURES) + " (Llama 2/3 family); convert or choose such a model");
            }
            if (f.tensors().isEmpty()) throw new EmovecException(path + ": holds a vocabulary but no weights (vocab-only GGUF): point --model at a full model");
            return arch;
        } catch (GgufException e) {
            throw new EmovecException(e.getMessage(), e);
        }
    }
}
