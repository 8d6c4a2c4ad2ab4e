package org.emovec.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * An append-only JSONL file that results are flushed to one line at a time, so that a killed run keeps every
 * finished line. Reading it back first cuts off a last line the kill left half-written.
 */
public final class Journal {
    private Journal() {}

    /** The complete, non-blank lines of file (none when it does not exist), after cutting off a partial last line. */
    public static List<String> lines(Path file) throws IOException {
        List<String> out = new ArrayList<>();
        if (!Files.exists(file)) return out;
        byte[] bytes = Files.readAllBytes(file);
        int end = bytes.length;
        while (end > 0 && bytes[end - 1] != '\n') end--;
        if (end < bytes.length) {
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.truncate(end);
            }
        }
        for (String line : new String(bytes, 0, end, StandardCharsets.UTF_8).split("\n")) if (!line.isBlank()) out.add(line);
        return out;
    }
}
