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

    /** Finished files under a stage folder: what shows the run has moved on. */
    private static long progress(Path out) throws IOException {
        long n = 0;
        for (String d : List.of("stories", "activations", "validate")) {
            Path p = out.resolve(d);
            if (!Files.exists(p)) continue;
            try (Stream<Path> s = Files.walk(p)) {
                n += s.filter(Files::isRegularFile).count();
            }
            Path journal = p.resolve("journal.jsonl");
            if (Files.exists(journal)) n += Files.readAllLines(journal).size();
        }
        return n;
    }

    private static Map<String, byte[]> results(Path out) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.walk(out)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = out.relativize(p).toString();
                if (rel.startsWith("report") || rel.equals("manifest.json")) continue; // the manifest records the output path
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

        int kills = 0;
        long seen = 0;
        List<Long> killedAt = new ArrayList<>();
        while (kills < 6) {
            Process p = start(args(model, killed));
            long target = seen + 2 + kills; // let it move on a little further each time
            while (p.isAlive() && progress(killed) < target) Thread.sleep(20);
            if (!p.isAlive()) {
                assertEquals(0, p.exitValue(), () -> "child failed: " + read(dir.resolve("child.log")));
                break;
            }
            p.destroyForcibly(); // SIGKILL
            p.waitFor(30, TimeUnit.SECONDS);
            seen = progress(killed);
            killedAt.add(seen);
            kills++;
        }
        System.err.println("KillResumeTest: killed at progress " + killedAt);
        assertTrue(kills >= 3, "the run was killed only " + kills + " times (at " + killedAt + ")");
        Process last = start(args(model, killed));
        assertTrue(last.waitFor(600, TimeUnit.SECONDS));
        assertEquals(0, last.exitValue(), () -> read(dir.resolve("child.log")));

        Map<String, byte[]> a = results(clean), b = results(killed);
        assertEquals(a.keySet(), b.keySet(), "the same files (killed at progress " + killedAt + ")");
        for (String f : a.keySet()) assertArrayEquals(a.get(f), b.get(f), f + " differs after kills at " + killedAt);
        try (Stream<Path> s = Files.walk(killed)) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList(), "temporary files of killed writes are cleared");
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "(no log)";
        }
    }
}
