package org.emovec.paperdata;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The study's data, shipped as resources next to this class: Sofroniew et al. (2026), "Emotion Concepts and
 * their Function in a Large Language Model", transformer-circuits.pub/2026/emotions (arXiv 2604.07729).
 * SOURCES.md (also a resource) says where each list was transcribed from and how complete it is.
 */
public final class PaperData {
    public enum Valence { POSITIVE, NEGATIVE }

    /** One of the 171 emotion concepts, its k-means cluster in the paper, and its valence. */
    public record Emotion(String word, String cluster, Valence valence) {}

    /** One of the 64 preference activities, its category, and the paper's Elo for it (Claude Sonnet 4.5). */
    public record Activity(String category, String text, int paperElo) {}

    /** One of the 12 implicit-emotion prompts (the paper's Table 2) and the emotion it should evoke. */
    public record ImplicitScenario(String emotion, String title, String prompt) {}

    /** A numerical-modulation template ("{X}" is replaced by each value), the emotions tracked, the expected trend. */
    public record NumericalTemplate(String name, String template, List<String> values, List<String> emotions, String expectedTrend) {}

    private PaperData() {}

    public static List<Emotion> emotions() {
        return rows("emotions.tsv", 3).stream()
                .map(r -> new Emotion(r[0], r[1], Valence.valueOf(r[2].toUpperCase()))).toList();
    }

    /** Each emotion word's valence. */
    public static java.util.Map<String, Valence> valences() {
        java.util.Map<String, Valence> m = new java.util.LinkedHashMap<>();
        for (Emotion e : emotions()) m.put(e.word(), e.valence());
        return m;
    }

    public static List<Activity> activities() {
        return rows("activities.tsv", 3).stream().map(r -> new Activity(r[0], r[1], Integer.parseInt(r[2]))).toList();
    }

    public static List<ImplicitScenario> implicitScenarios() {
        return rows("implicit_scenarios.tsv", 3).stream().map(r -> new ImplicitScenario(r[0], r[1], r[2])).toList();
    }

    public static List<NumericalTemplate> numericalTemplates() {
        return rows("numerical_templates.tsv", 5).stream()
                .map(r -> new NumericalTemplate(r[0], r[1], Arrays.asList(r[2].split(",")), Arrays.asList(r[3].split(",")), r[4])).toList();
    }

    /** The 100 story topics. */
    public static List<String> topics() {
        return lines("topics.txt").stream().filter(l -> !l.isBlank()).toList();
    }

    /** The story system prompt, with slots {n_stories}, {topic}, {emotion}; stories come back split by "<NEW STORY>". */
    public static String storyPrompt() { return text("story_prompt.txt"); }

    /** The prompt for emotionally neutral dialogues (their top principal components are projected out). */
    public static String neutralDialoguesPrompt() { return text("neutral_dialogues_prompt.txt"); }

    /** Where each list comes from and how complete it is. */
    public static String sources() { return text("SOURCES.md"); }

    private static List<String[]> rows(String name, int columns) {
        List<String> lines = lines(name);
        List<String[]> out = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) { // line 0: the header
            if (lines.get(i).isBlank()) continue;
            String[] r = lines.get(i).split("\t", -1);
            if (r.length != columns) throw new IllegalStateException(name + " line " + (i + 1) + ": " + r.length + " columns, expected " + columns);
            out.add(r);
        }
        return out;
    }

    private static List<String> lines(String name) {
        try (InputStream in = PaperData.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("resource " + name + " is missing from the emovec jar");
            return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).lines().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String text(String name) {
        return String.join("\n", lines(name)).strip();
    }
}
