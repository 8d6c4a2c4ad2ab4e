package org.emovec.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `emovec run` killed with SIGKILL in each stage (stories, extract, validate) and restarted ends with the same
 * bytes as a run never interrupted: stories, activations, vectors and check results; and no half-written
 * file is ever left under its final name.
 */
class KillResumeTest {
    @TempDir Path dir;

    private List<String> args(Path model, Path out) {
        return List.of("run", "--model", model.toString(), "--out", out.toString(), "--emotions", "6", "--topics", "1", "--stories", "3",
                "--story-max-tokens", "40", "--from-token", "10", "--neutral-topics", "3", "--steer-top", "2", "--parallel", "4", "--quiet");
    }

    private Process start(List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "org.emovec.cli.Main"));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
    }

    /** Finished files in a folder the child writes to: names only (Files.walk would stat temp files the child renames away). */
    private static long count(Path folder, String suffix) throws IOException {
        if (!Files.exists(folder)) return 0;
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix) && !p.getFileName().toString().startsWith(".")).count();
        }
    }

    private static long journalLines(Path out) throws IOException {
        Path j = out.resolve("stories/journal.jsonl");
        return Files.exists(j) ? Files.readAllLines(j).size() : 0;
    }

    /** Moments to kill at, one or more in each stage: the run has written at least this much. */
    private static List<Moment> moments(Path out) {
        return List.of(new Moment("stories: 4 calls done", () -> journalLines(out) >= 4),
                new Moment("stories: 12 calls done", () -> journalLines(out) >= 12),
                new Moment("extract: 2 emotions done", () -> count(out.resolve("activations"), ".json") >= 2),
                new Moment("extract: 5 emotions done", () -> count(out.resolve("activations"), ".json") >= 5),
                new Moment("validate: preferences done", () -> Files.exists(out.resolve("validate/preferences-baseline.json"))),
                new Moment("validate: a steering job done", () -> count(out.resolve("validate/steer-L2"), ".json") >= 1));
    }

    interface Check { boolean reached() throws IOException; }

    record Moment(String name, Check check) {}

    private static Map<String, byte[]> results(Path out) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(out)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = out.relativize(p).toString();
                if (rel.startsWith("report") || rel.equals("manifest.json") || rel.equals("timings.json")) continue; // paths and times differ
                m.put(rel, Files.readAllBytes(p));
            }
        }
        return m;
    }

    @Test
    void killedInEveryStageAndRestartedGivesTheBytesOfAnUninterruptedRun() throws Exception {
        Path model = dir.resolve("tiny.gguf");
        assertEquals(0, Main.run("make-model", "--preset", "tiny", "--seed", "11", "-o", model.toString()));
        Path clean = dir.resolve("clean"), killed = dir.resolve("killed");
        assertEquals(0, Main.run(args(model, clean).toArray(String[]::new)));

        List<String> killedAt = new ArrayList<>();
        for (Moment m : moments(killed)) {
            Process p = start(args(model, killed));
            while (p.isAlive() && !m.check().reached()) Thread.sleep(10);
            if (!p.isAlive()) {
                assertEquals(0, p.exitValue(), () -> "child failed: " + read(dir.resolve("child.log")));
                break;
            }
            p.destroyForcibly(); // SIGKILL
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
            killedAt.add(m.name());
        }
        System.err.println("KillResumeTest: killed at " + killedAt);
        assertEquals(moments(killed).size(), killedAt.size(), "killed in every stage: " + killedAt);
        Process last = start(args(model, killed));
        assertTrue(last.waitFor(600, TimeUnit.SECONDS));
        assertEquals(0, last.exitValue(), () -> read(dir.resolve("child.log")));

        Map<String, byte[]> a = results(clean), b = results(killed);
        assertEquals(a.keySet(), b.keySet(), "the same files (killed at progress " + killedAt + ")");
        for (String f : a.keySet()) assertArrayEquals(a.get(f), b.get(f), f + " differs after kills at " + killedAt);
        try (Stream<Path> s = Files.walk(killed)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList(), "temporary files of killed writes are cleared");
        }
        // the stories' time covers only the attempt that finished them, and says so
        assertTrue(read(killed.resolve("timings.json")).contains("\"stories_resumed_after\" : "), read(killed.resolve("timings.json")));
        assertFalse(read(clean.resolve("timings.json")).contains("resumed_after"), read(clean.resolve("timings.json")));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "(no log)";
        }
    }
}
