package org.emovec.gguf;

import java.nio.file.Path;

/** A GGUF file that cannot be used; the message names the file and the problem in one line. */
public class GgufException extends RuntimeException {
    private static final int MAX_PROBLEM = 300;

    public GgufException(Path file, String problem) {
        super(file + ": " + printable(problem));
    }

    /**
     * The problem as one printable line: a corrupt file puts arbitrary bytes into the names we quote, so control
     * characters are escaped and a runaway text is cut.
     */
    static String printable(String s) {
        StringBuilder b = new StringBuilder(Math.min(s.length(), MAX_PROBLEM) + 16);
        for (int i = 0; i < s.length() && b.length() < MAX_PROBLEM; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\x%02x", (int) c));
            else b.append(c);
        }
        if (b.length() >= MAX_PROBLEM) b.append("...");
        return b.toString();
    }
}
