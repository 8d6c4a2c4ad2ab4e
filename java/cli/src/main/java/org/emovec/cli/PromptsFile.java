package org.emovec.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.emovec.engine.EmovecException;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** A prompts file: JSON Lines, one object a line, blank lines skipped; errors name the source and the line. */
final class PromptsFile {
    /** One parsed line and its 1-based number, for the caller's own checks. */
    record Line(int number, JsonNode node) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private PromptsFile() {}

    static List<Line> read(BufferedReader in, String source) throws IOException {
        List<Line> lines = new ArrayList<>();
        String text;
        int n = 0;
        while ((text = in.readLine()) != null) {
            n++;
            if (text.isBlank()) continue;
            try {
                lines.add(new Line(n, JSON.readTree(text)));
            } catch (IOException e) {
                throw new EmovecException(source + " line " + n + ": not valid JSON");
            }
        }
        if (lines.isEmpty()) throw new EmovecException(source + ": no prompts");
        return lines;
    }
}
