package org.emovec.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
    @TempDir Path dir;

    record Run(int code, String out, String err) {}

    private Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    private Path tiny() {
        Path p = dir.resolve("tiny.gguf");
        if (!Files.exists(p)) assertEquals(0, run("make-model", "--preset", "tiny", "--seed", "5", "-o", p.toString()).code());
        return p;
    }

    @Test
    void pipelineBadInputIsOneLineNamingTheFix() {
        Run r = run("run", "--model", tiny().toString(), "--out", dir.resolve("run").toString(), "--layer", "9", "--quiet");
        assertEquals(1, r.code());
        assertTrue(r.err().strip().startsWith("emovec: --layer 9 is out of range: this model's layers are 0..2"), r.err());
        r = run("run", "--model", tiny().toString(), "--out", dir.resolve("run").toString(), "--emotions", "happy,glorp", "--quiet");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("'glorp' is not one of the paper's 171 emotions"), r.err());
        r = run("run", "--model", tiny().toString(), "--out", dir.resolve("run").toString(), "--kv-cache", "q4", "--quiet");
        assertEquals(1, r.code());
        assertEquals("emovec: --kv-cache must be f16 or q8_0, not q4", r.err().strip());
        r = run("validate", "--out", dir.resolve("nothing").toString(), "--quiet");
        assertEquals(1, r.code());
    }

    @Test
    void benchTimesEveryStageAndWritesJson() throws Exception {
        Path json = dir.resolve("bench.json");
        Run r = run("bench", "--model", tiny().toString(), "--emotions", "2", "--topics", "1", "--stories", "3", "--story-max-tokens", "16",
                "--extraction-shapes", "1024x256", "-o", json.toString());
        assertEquals(0, r.code(), r.err());
        var result = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json.toFile());
        var rows = result.get("rows");
        // stories 3 ways (one context on a CPU; shared with the q8_0 cache too); plain prefill and capture each in the
        // pipeline's layout, with one KV stream for the batch and at the asked shape (a stream per text); preferences
        // 3 ways, and all prompts on one KV stream in two batch shapes
        assertEquals(14, rows.size());
        assertEquals(6, rows.get(1).get("items").asInt(), "2 emotions x 3 stories sharing one prompt each");
        assertTrue(rows.get(2).get("condition").asText().endsWith(", q8_0 KV cache"), rows.get(2).toString());
        assertEquals("f16", result.get("story_kv_cache").asText());
        var steps = result.get("stories_host_ms_per_step_shared"); // the prompts' first tokens come in steps of their own kind
        assertTrue(steps.get("prompt_steps").asDouble() >= 1 && steps.get("prompt_steps").asDouble() < steps.get("steps").asDouble()
                && steps.get("prompt_tokens").asDouble() >= 6 && steps.get("prompt_step_ms").asDouble() > 0, steps.toString());
        for (String patch : new String[] {"f16_products_in_f32", "fattn_kv_max_half_tiles", "cublas_reuse_input"})
            assertFalse(result.path(patch).asBoolean(true), patch + ": recorded, and off on a CPU build (emovec's llama.cpp patches are CUDA's)");
        assertTrue(result.get("kv_copy_identical_f16").asBoolean() && result.get("kv_copy_identical_q8_0").asBoolean(), r.err());
        int e = 3; // extraction's rows
        assertTrue(rows.get(e).get("condition").asText().endsWith("a KV stream per text"), rows.get(e).toString());
        assertTrue(rows.get(e + 1).get("condition").asText().endsWith("1024-token batches, ubatch 1024"), rows.get(e + 1).toString());
        assertTrue(rows.get(e + 2).get("condition").asText().endsWith("1024-token batches, ubatch 256, a KV stream per text"), rows.get(e + 2).toString());
        assertTrue(rows.get(e + 3).get("condition").asText().startsWith("capture"), rows.get(e + 3).toString());
        assertTrue(rows.get(e + 5).get("condition").asText().endsWith("ubatch 256, a KV stream per text"), rows.get(e + 5).toString());
        int p = e + 6; // preferences'
        assertEquals(4032, rows.get(p).get("items").asInt(), "every ordered pair of the 64 activities");
        assertTrue(rows.get(p).get("condition").asText().equals("all prompts, unsteered"), rows.get(p).toString());
        assertTrue(rows.get(p + 3).get("condition").asText().endsWith("8192-token batches, ubatch 512, one KV stream"), rows.get(p + 3).toString());
        assertTrue(rows.get(p + 4).get("condition").asText().endsWith("1024-token batches, ubatch 1024, one KV stream"), rows.get(p + 4).toString());
        assertTrue(r.out().contains("span steering"), r.out());
        // the paper's corpus at these rates: 171 x 100 x 12 stories and 40 x 2 dialogues, at the shared-prompt story rate
        var paper = result.get("paper_scale");
        assertEquals(205_280, paper.get("texts").asLong());
        assertEquals(205_280 / rows.get(1).get("itemsPerSecond").asDouble(), paper.get("stories_seconds").asDouble(), 1e-6);
        assertTrue(r.out().contains("paper scale at these rates"), r.out());

        // --no-comparisons: only what the pipeline runs (stories shared, extraction plain and with capture in its
        // layout, the three preference rows), and the paper-scale figures from them
        r = run("bench", "--model", tiny().toString(), "--emotions", "2", "--topics", "1", "--stories", "3", "--story-max-tokens", "16",
                "--no-comparisons", "-o", json.toString());
        assertEquals(0, r.code(), r.err());
        result = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json.toFile());
        rows = result.get("rows");
        List<String> conditions = new java.util.ArrayList<>();
        rows.forEach(row -> conditions.add(row.get("stage").asText() + ": " + row.get("condition").asText()));
        assertEquals(6, rows.size(), conditions.toString());
        assertTrue(conditions.get(0).startsWith("stories: prompt KV shared") && !conditions.get(0).contains("KV cache"), conditions.toString());
        assertTrue(conditions.get(2).startsWith("extraction: capture") && conditions.get(2).endsWith("a KV stream per text"), conditions.toString());
        assertEquals(205_280 / rows.get(0).get("itemsPerSecond").asDouble(), result.get("paper_scale").get("stories_seconds").asDouble(), 1e-6);
    }

    @Test
    void aVramBudgetTooSmallForTheModelIsRefusedInOneLine() {
        Run r = run("run", "--model", tiny().toString(), "--out", dir.resolve("small").toString(), "--vram-budget", "1M", "--quiet");
        assertEquals(1, r.code());
        assertTrue(r.err().strip().startsWith("emovec: a device-memory budget of 0.00 GiB cannot hold tiny.gguf"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        r = run("bench", "--model", tiny().toString(), "--vram-budget", "lots");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("'lots' is not a memory size"), r.err());
    }

    /** Issue 6's bad-input matrix, the parts a CPU can show: each is exit 1 and one line naming the problem and the fix. */
    @Test
    void badInputGetsOneLineNamingTheFix() throws Exception {
        String model = tiny().toString(), out = dir.resolve("bad").toString();
        Path empty = Files.writeString(dir.resolve("empty.txt"), "# nothing yet\n\n");
        Path unknown = Files.writeString(dir.resolve("unknown.txt"), "happy\n# a comment\nsad\nglorp\n");
        Path binary = Files.write(dir.resolve("binary.txt"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 1, (byte) 0xc3});
        Path aFile = Files.writeString(dir.resolve("a-file"), "not a directory");
        String[][] cases = {
                {"@" + dir.resolve("missing.txt"), out, "missing.txt: no such emotion list"},
                {"@" + empty, out, "empty.txt: no emotions in it"},
                {"@" + unknown, out, "unknown.txt line 4: 'glorp' is not one of the paper's 171 emotions"},
                {"@" + binary, out, "binary.txt: not UTF-8 text"},
                {"happy,sad", aFile.resolve("run").toString(), "cannot create the output directory"},
        };
        for (String[] c : cases) {
            Run r = run("stories", "--model", model, "--out", c[1], "--emotions", c[0], "--topics", "1", "--stories", "1", "--quiet");
            assertEquals(1, r.code(), c[2]);
            String line = r.err().strip();
            assertEquals(1, line.lines().count(), r.err());
            assertTrue(line.startsWith("emovec: ") && line.contains(c[2]), "want '" + c[2] + "', got: " + line);
        }
        // A model without what the prompts need (here: no chat template) is refused before any story is written.
        Path noTemplate = dir.resolve("no-template.gguf");
        try (org.emovec.gguf.GgufFile f = org.emovec.gguf.GgufFile.open(tiny())) {
            var w = new org.emovec.gguf.GgufWriter();
            f.metadata().forEach((k, v) -> { if (!k.equals("tokenizer.chat_template")) w.put(k, v); });
            for (var t : f.tensors().values()) w.tensor(t.name(), t.dims(), t.type(), f.rawData(t));
            w.write(noTemplate);
        }
        Run r = run("run", "--model", noTemplate.toString(), "--out", dir.resolve("nt").toString(), "--quiet");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().strip().startsWith("emovec: " + noTemplate + ": the model has no chat template"), r.err());
        assertFalse(Files.exists(dir.resolve("nt/stories")), "nothing generated");
        // An emotion list that is fine is used as given.
        Files.writeString(unknown, "happy\n# a comment\nsad\n");
        Run ok = run("stories", "--model", model, "--out", dir.resolve("list").toString(), "--emotions", "@" + unknown, "--topics", "1", "--stories", "1",
                "--story-max-tokens", "4", "--neutral-topics", "2", "--quiet");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(Files.exists(dir.resolve("list/stories/sad.jsonl")));
        // Disk full: /dev/full fails every write with ENOSPC, as a full disk does.
        Path prompts = Files.writeString(dir.resolve("p.jsonl"), "{\"id\": \"a\", \"text\": \"Hello\"}\n");
        Run full = run("generate", "--model", model, "--prompts", prompts.toString(), "-o", "/dev/full", "--max-tokens", "4", "--quiet");
        assertEquals(1, full.code());
        List<String> lines = full.err().strip().lines().toList(); // a status line, then the failure in one line, no stack trace
        assertTrue(lines.get(lines.size() - 1).startsWith("emovec: cannot write /dev/full: No space left on device: free disk space"), full.err());
        assertTrue(lines.stream().noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Exception")), full.err());
    }

    @Test
    void helpOnEveryCommand() {
        for (String cmd : List.of("info", "make-model", "generate", "run", "stories", "extract", "validate", "report", "sweep", "bench", "bench hooks")) {
            Run r = run((cmd + " --help").split(" "));
            assertEquals(0, r.code(), cmd);
            assertTrue(r.out().contains("Usage: emovec " + cmd), r.out());
        }
    }

    @Test
    void infoShowsShapeAndQuantization() {
        Run r = run("info", tiny().toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("layers         4"), r.out());
        assertTrue(r.out().contains("vocabulary     128256 tokens"), r.out());
        assertTrue(r.out().contains("quantization   F32"), r.out());
        assertTrue(r.out().contains("GPU memory     weights "), r.out());
    }

    @Test
    void usageErrorsExitTwoRuntimeFailuresExitOneWithOneLine() throws Exception {
        assertEquals(2, run("info").code());
        assertEquals(2, run("generate", "--no-such-option").code());
        Run badPreset = run("make-model", "--preset", "gpt5", "-o", dir.resolve("x.gguf").toString());
        assertEquals(2, badPreset.code());
        assertTrue(badPreset.err().contains("unknown model preset 'gpt5'"), badPreset.err());

        Run missing = run("info", dir.resolve("none.gguf").toString());
        assertEquals(1, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertTrue(missing.err().contains("no such file"), missing.err());

        Path junk = dir.resolve("junk.gguf");
        Files.writeString(junk, "{}");
        Run notGguf = run("generate", "--model", junk.toString(), "-o", dir.resolve("o.jsonl").toString());
        assertEquals(1, notGguf.code());
        assertTrue(notGguf.err().contains("not a GGUF file"), notGguf.err());
        assertFalse(notGguf.err().contains("\tat "), "no stack trace without --debug");
    }

    @Test
    void generateStreamsJsonlAndResumesAfterAKill() throws Exception {
        Path prompts = dir.resolve("p.jsonl");
        Files.writeString(prompts, """
                {"id": "a", "prompt": "Tell me about the sea."}
                {"id": "b", "prompt": "Tell me about the sky.", "max_tokens": 5}
                {"id": "c", "text": "Raw text without a template"}
                """);
        Path out = dir.resolve("o.jsonl");
        String[] args = {"generate", "--model", tiny().toString(), "--prompts", prompts.toString(), "-o", out.toString(),
                "--parallel", "2", "--max-tokens", "12", "--quiet"};
        Run r = run(args);
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(3, lines.size());
        assertTrue(lines.stream().anyMatch(l -> l.contains("\"id\":\"b\"") && l.contains("\"new_tokens\":5")), lines.toString());
        String full = Files.readString(out);

        // Simulate a kill mid-write: keep one whole line and half of the next; the rerun completes the rest.
        String first = lines.get(0);
        Files.writeString(out, first + "\n" + lines.get(1).substring(0, 20));
        assertEquals(0, run(args).code());
        List<String> resumed = Files.readAllLines(out);
        assertEquals(3, resumed.size());
        assertEquals(first, resumed.get(0));
        assertEquals(full.lines().sorted().toList(), resumed.stream().sorted().toList(), "same results as the uninterrupted run");
    }

    @Test
    void progressWithoutATerminalWritesWholeLines() throws Exception {
        // Tests have no console, as a run logged to a file has none: progress comes as lines, not redrawn in place.
        Path prompts = Files.writeString(dir.resolve("p.jsonl"), "{\"id\": \"a\", \"text\": \"Hello\"}\n{\"id\": \"b\", \"text\": \"Hi\"}\n");
        Run r = run("generate", "--model", tiny().toString(), "--prompts", prompts.toString(), "-o", dir.resolve("o.jsonl").toString(), "--max-tokens", "4");
        assertEquals(0, r.code(), r.err());
        assertFalse(r.err().contains("\r"), r.err());
        List<String> done = r.err().lines().filter(l -> l.startsWith("generate 100%")).toList();
        assertEquals(1, done.size(), r.err());
        assertTrue(done.get(0).contains("2/2 sequences") && done.get(0).contains("tok/s"), done.get(0));
    }

    @Test
    void malformedPromptsNameTheLine() throws Exception {
        Path prompts = dir.resolve("bad.jsonl");
        Files.writeString(prompts, "{\"id\": \"a\", \"prompt\": \"ok\"}\n{not json\n");
        Run r = run("generate", "--model", tiny().toString(), "--prompts", prompts.toString(), "-o", dir.resolve("o.jsonl").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("line 2: not valid JSON"), r.err());
    }

    @Test
    void captureOfTheLastBlockHasEveryRowWhateverLogitsAreWritten() throws Exception {
        // after the last block llama.cpp keeps only the rows whose logits are read: every row must be there anyway
        Path prompts = dir.resolve("p.jsonl");
        Files.writeString(prompts, "{\"id\":\"a\",\"text\":\"Option A: tea. Option B: coffee. Answer: (\"}\n{\"id\":\"b\",\"text\":\"Hello world\"}\n");
        Path all = dir.resolve("all"), last = dir.resolve("last"), mean = dir.resolve("mean");
        for (String[] v : new String[][] {{all.toString(), "rows", "all"}, {last.toString(), "rows", "last"}, {mean.toString(), "mean", "none"}}) {
            Run r = run("capture", "-m", tiny().toString(), "-p", prompts.toString(), "-o", v[0], "--layers", "all", "--reduce", v[1], "--logits", v[2]);
            assertEquals(0, r.code(), r.err());
        }
        float[][] rowsAll = org.emovec.io.Npy.read(all.resolve("residual-L3.npy")), rowsLast = org.emovec.io.Npy.read(last.resolve("residual-L3.npy"));
        assertEquals(org.emovec.io.Npy.read(all.resolve("residual-L0.npy")).length, rowsLast.length, "a row per token at the last block too");
        for (int i = 0; i < rowsAll.length; i++) assertArrayEquals(rowsAll[i], rowsLast[i], "row " + i);
        float[][] logitsAll = org.emovec.io.Npy.read(all.resolve("logits.npy")), logitsLast = org.emovec.io.Npy.read(last.resolve("logits.npy"));
        assertEquals(2, logitsLast.length);
        assertArrayEquals(logitsAll[rowsAll.length - 1], logitsLast[1], "--logits last: each prompt's last row");
        // the mean at the last block is over every row of the prompt, not only the output rows
        float[][] means = org.emovec.io.Npy.read(mean.resolve("residual-L3.npy"));
        var b = new com.fasterxml.jackson.databind.ObjectMapper().readTree(all.resolve("capture.json").toFile()).get("prompts").get(1);
        int first = b.get("first_row").asInt(), n = b.get("rows").asInt();
        assertTrue(n > 1 && first + n == rowsAll.length, b.toString());
        for (int d = 0; d < 64; d++) {
            double sum = 0;
            for (int i = first; i < first + n; i++) sum += rowsAll[i][d];
            assertEquals(sum / n, means[1][d], 1e-4 * (1 + Math.abs(sum / n)), "dimension " + d);
        }
    }

    @Test
    void captureWritesNpyAndASidecarAndRefusesALayerOutOfRange() throws Exception {
        Path prompts = dir.resolve("p.jsonl");
        Files.writeString(prompts, "{\"id\":\"a\",\"text\":\"Option A: tea. Option B: coffee. Answer: (\",\"steer_text\":\"coffee\"}\n"
                + "{\"id\":\"b\",\"text\":\"Hello world\"}\n");
        Path vec = dir.resolve("v.npy");
        org.emovec.io.Npy.write(vec, new float[][] {new float[64]});
        Path out = dir.resolve("cap");
        Run r = run("capture", "-m", tiny().toString(), "-p", prompts.toString(), "-o", out.toString(), "--layers", "1-2",
                "--reduce", "mean", "--logits", "last", "--steer", vec.toString(), "--steer-layer", "2", "--alpha", "3");
        assertEquals(0, r.code(), r.err());
        float[][] mean = org.emovec.io.Npy.read(out.resolve("residual-L2.npy"));
        assertEquals(2, mean.length);
        assertEquals(64, mean[0].length);
        assertEquals(2, org.emovec.io.Npy.read(out.resolve("logits.npy")).length);
        String meta = Files.readString(out.resolve("capture.json"));
        assertTrue(meta.contains("hidden_states[L+1]") && meta.contains("steer_span"), meta);
        Run bad = run("capture", "-m", tiny().toString(), "-p", prompts.toString(), "-o", out.toString(), "--layers", "7");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("layer 7 is out of range"), bad.err());
        Run cv = run("control-vector", "--vector", vec.toString(), "--layers", "1-3", "--model-layers", "4", "-o", dir.resolve("cv.gguf").toString());
        assertEquals(0, cv.code(), cv.err());
    }
}
