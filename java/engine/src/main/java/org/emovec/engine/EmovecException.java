package org.emovec.engine;

/** A failure the user can act on; the message is one line naming the problem and, where known, the fix. */
public class EmovecException extends RuntimeException {
    public EmovecException(String message) {
        super(message);
    }

    public EmovecException(String message, Throwable cause) {
        super(message, cause);
    }

    /** A streamed result file could not be written (a full disk, most often): what was written before is kept. */
    public static EmovecException cannotWrite(Object file, java.io.IOException e) {
        return new EmovecException("cannot write " + file + ": " + e.getMessage()
                + ": free disk space (or choose another output) and rerun the same command; finished work is kept", e);
    }
}
