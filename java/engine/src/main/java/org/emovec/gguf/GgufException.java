package org.emovec.gguf;

import java.nio.file.Path;

/** A GGUF file that cannot be used; the message names the file and the problem in one line. */
public class GgufException extends RuntimeException {
    public GgufException(Path file, String problem) {
        super(file + ": " + problem);
    }
}
