package org.emovec.pipeline;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Topics for the emotionally neutral dialogues whose principal components are projected out of the vectors.
 * The paper gives the dialogue prompt but not its topics (its story topics are emotional premises, unfit here):
 * these 40 matter-of-fact topics (code, science, work tasks, how-tos, neutral lists) are emovec's choice,
 * matching the mix the prompt asks for, and the report says so.
 */
public final class NeutralTopics {
    private NeutralTopics() {}

    public static List<String> all() {
        try (var in = NeutralTopics.class.getResourceAsStream("neutral_topics.txt")) {
            if (in == null) throw new IllegalStateException("resource neutral_topics.txt is missing from the emovec jar");
            return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines().filter(l -> !l.isBlank()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
