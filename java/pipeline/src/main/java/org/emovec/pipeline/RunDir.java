package org.emovec.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.emovec.engine.EmovecException;

/**
 * A run's output directory, laid out as the data flows:
 * <pre>
 *   manifest.json           model checksum, settings, emovec version
 *   stories/                &lt;emotion&gt;.jsonl and neutral.jsonl (journal.jsonl while generating)
 *   activations/            &lt;emotion&gt;.npy (layers x width) + .json; neutral-L&lt;L&gt;.npy (dialogues x width)
 *   vectors/                L&lt;L&gt;.npy (emotions x width, unit), raw-L&lt;L&gt;.npy, vectors.json
 *   validate/               L&lt;L&gt;.json + CSV tables
 *   report/                 index.html and its figures
 *   timings.json            how long each stage's work took
 * </pre>
 * The manifest ties a directory to one model and one method: resuming with another model, or with other story
 * or extraction settings, is refused with what differs, unless a fresh run is asked for.
 */
public final class RunDir {
    public static final String VERSION = "emovec 0.1.0";
    private static final List<String> STAGE_DIRS = List.of("stories", "activations", "vectors", "validate", "report", "sweep");

    /** What the manifest records. */
    public record Manifest(String emovec, String model, long modelBytes, long modelModified, String modelSha256, Settings settings) {}

    private final Path root;

    public RunDir(Path root) { this.root = root; }

    public Path root() { return root; }
    public Path manifestFile() { return root.resolve("manifest.json"); }
    public Path stories() { return root.resolve("stories"); }
    public Path activations() { return root.resolve("activations"); }
    public Path vectors() { return root.resolve("vectors"); }
    public Path validate() { return root.resolve("validate"); }
    public Path report() { return root.resolve("report"); }
    public Path sweep() { return root.resolve("sweep"); }

    public Manifest manifest() throws IOException {
        if (!Files.exists(manifestFile())) throw new EmovecException(root + " holds no emovec run (no manifest.json): run 'emovec stories' or 'emovec run' first");
        return Json.read(manifestFile(), Manifest.class);
    }

    public boolean hasManifest() { return Files.exists(manifestFile()); }

    /**
     * Opens (or starts) the run for this model and these settings. An existing run must have the same model
     * (by checksum) and the same story and extraction settings; check settings may differ (validate reruns).
     * fresh: forget an existing run's outputs and start over.
     */
    public Manifest open(Path model, Settings settings, boolean fresh) throws IOException {
        try {
            Files.createDirectories(root);
        } catch (java.nio.file.FileSystemException e) {
            throw new EmovecException(root + ": cannot create the output directory (" + (e.getReason() != null ? e.getReason() : e.getClass().getSimpleName())
                    + (e.getFile() != null && !e.getFile().equals(root.toString()) ? " at " + e.getFile() : "") + "): choose another --out");
        }
        if (!Files.isWritable(root)) throw new EmovecException(root + ": output directory is not writable: choose another --out");
        if (fresh) {
            for (String d : STAGE_DIRS) deleteTree(root.resolve(d));
            Files.deleteIfExists(manifestFile());
        }
        clearTemporaryFiles();
        Manifest old = hasManifest() ? manifest() : null;
        String sha = old != null && sameFile(old, model) ? old.modelSha256() : sha256(model);
        Manifest now = new Manifest(VERSION, model.toAbsolutePath().toString(), Files.size(model),
                Files.getLastModifiedTime(model).toMillis(), sha, settings);
        if (old != null) {
            List<String> diffs = new ArrayList<>();
            if (!old.modelSha256().equals(sha)) diffs.add("model " + old.model() + " (sha256 " + old.modelSha256().substring(0, 12) + ") vs " + model + " (" + sha.substring(0, 12) + ")");
            Map<String, Object> a = old.settings().asMap(), b = settings.asMap();
            for (String k : a.keySet()) {
                if (!Settings.stageOf(k).equals("validate") && !Objects.equals(a.get(k), b.get(k))) diffs.add(k + " " + a.get(k) + " vs " + b.get(k));
            }
            if (!diffs.isEmpty()) {
                throw new EmovecException(root + " holds a run made differently (" + String.join("; ", diffs)
                        + "): use another --out, or --fresh to discard that run");
            }
        }
        Json.write(manifestFile(), now);
        return now;
    }

    /**
     * Records how long a stage's work took (timings.json: the latest time of each stage that did work). doneBefore:
     * items an earlier, stopped attempt had finished, whose time this figure lacks (recorded as
     * {@code <stage>_resumed_after}, so a resumed stage's short time is not read as the whole stage's).
     */
    public void recordTime(String stage, double seconds, int doneBefore) throws IOException {
        Path f = root.resolve("timings.json");
        @SuppressWarnings("unchecked")
        Map<String, Object> m = Files.exists(f) ? Json.read(f, java.util.TreeMap.class) : new java.util.TreeMap<>();
        m.put(stage + "_seconds", Math.round(seconds * 10) / 10.0);
        if (doneBefore > 0) m.put(stage + "_resumed_after", doneBefore);
        else m.remove(stage + "_resumed_after");
        Json.write(f, m);
    }

    /** The recorded stage times (empty when none). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> timings() throws IOException {
        Path f = root.resolve("timings.json");
        return Files.exists(f) ? Json.read(f, java.util.TreeMap.class) : Map.of();
    }

    /** Temporary files a killed write left behind (never under a final name: see AtomicFiles). */
    private void clearTemporaryFiles() throws IOException {
        try (var walk = Files.walk(root)) {
            for (Path p : walk.filter(p -> p.getFileName().toString().matches("\\..*\\.tmp")).toList()) Files.deleteIfExists(p);
        }
    }

    private static boolean sameFile(Manifest m, Path model) throws IOException {
        return m.model().equals(model.toAbsolutePath().toString()) && Files.size(model) == m.modelBytes() && Files.getLastModifiedTime(model).toMillis() == m.modelModified();
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (var walk = Files.walk(p)) {
            for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    /** A file name for an emotion (the paper's words are lowercase ASCII; "at ease" becomes at_ease). */
    static String fileName(String emotion) {
        if (!emotion.matches("[a-z][a-z -]*")) throw new IllegalArgumentException("unexpected emotion word " + emotion);
        return emotion.replace(' ', '_');
    }
}
