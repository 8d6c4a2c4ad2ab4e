package org.emovec.engine;

/** A failure the user can act on; the message is one line naming the problem and, where known, the fix. */
public class EmovecException extends RuntimeException {
    public EmovecException(String message) {
        super(message);
    }

    public EmovecException(String message, Throwable cause) {
        super(message, cause);
    }
}
