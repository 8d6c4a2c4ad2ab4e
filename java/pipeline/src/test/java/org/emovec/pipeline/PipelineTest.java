package org.emovec.pipeline;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.emovec.engine.Sizing;
import org.emovec.engine.EmovecException;
import org.emovec.engine.Model;
import org.emovec.io.Npy;
import org.emovec.model.ModelMaker;
import org.emovec.model.ModelPreset;
import org.emovec.model.WeightFormat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole method on the tiny random model (CPU llama.cpp), at a micro scale: every stage's files, the
 * vectors' defining properties, and the science checks failing as a random model's must.
 */
class PipelineTest {
    @TempDir static Path dir;
    static Model model;
    static Path modelPath;

    static Settings micro(int layers) {
        return Settings.demo(layers).with(Map.of("emotions", Settings.screeningEmotions(8), "topics", 1, "storiesPerTopic", 2,
                "storyMaxTokens", 40, "dialogueMaxTokens", 40, "fromToken", 10, "neutralTopics", 4, "steerTop", 3));
    }

    @BeforeAll
    static void load() throws Exception {
        modelPath = dir.resolve("tiny.gguf");
        ModelMaker.make(ModelPreset.TINY, WeightFormat.F32, 3, modelPath);
        model = Model.load(modelPath, 0);
    }

    @AfterAll
    static void free() { model.close(); }

    @Test
    void storiesToReportOnARandomModel() throws Exception {
        RunDir run = new RunDir(dir.resolve("run"));
        Settings s = micro(model.layers());
        run.open(modelPath, s, false);
        Stories.run(run, model, s, Sizing.of(16), true);
        List<Stories.Story> happy = Stories.read(run, "happy");
        assertEquals(2, happy.size());
        assertEquals("happy/0/0", happy.get(0).id());
        assertFalse(Files.exists(run.stories().resolve("journal.jsonl")), "the journal goes once the corpus is written");

        Extract.run(run, model, s, Sizing.of(16), true);
        Vectors.Meta meta = Vectors.meta(run);
        assertEquals(s.emotions(), meta.emotions());
        float[][] v = Vectors.load(run, s.layer());
        assertEquals(8, v.length);
        for (float[] row : v) assertEquals(1.0, Math.sqrt(Checks.dot(row, row)), 1e-5, "unit vectors");
        // the projection removed the neutral dialogues' top components: the vectors are orthogonal to them
        Pca.Result pca = Pca.top(Npy.read(run.activations().resolve("neutral-L" + s.layer() + ".npy")), s.pcaVariance());
        assertEquals(meta.layer(s.layer()).pcaComponents(), pca.components().length);
        assertTrue(pca.components().length >= 1);
        for (float[] row : v) for (double[] u : pca.components()) {
            double d = 0;
            for (int j = 0; j < u.length; j++) d += row[j] * u[j];
            assertEquals(0, d, 1e-4);
        }
        // raw vectors: each emotion minus the mean over emotions, so they sum to zero
        float[][] raw = Npy.read(run.vectors().resolve("raw-L" + s.layer() + ".npy"));
        for (int j = 0; j < raw[0].length; j++) {
            double sum = 0;
            for (float[] row : raw) sum += row[j];
            assertEquals(0, sum, 1e-3);
        }

        Validate.LayerResult r = Validate.run(run, model, s, List.of(s.layer()), true, Sizing.of(16), true).get(0);
        assertEquals(11, r.checks().size());
        assertEquals(64, r.elo().length);
        assertNotNull(r.steeringDeltaElo());
        assertTrue(r.steeringDeltaElo().keySet().containsAll(List.of("blissful", "hostile")), "the paper's exemplars are always steered");
        // a random model holds no emotion concepts: it must fail the checks that would show them
        for (String id : List.of("V1", "V3", "V7", "V8", "V10")) {
            assertEquals(Boolean.FALSE, r.checks().stream().filter(c -> c.id().equals(id)).findFirst().orElseThrow().pass(), id);
        }
        assertTrue(r.passed() <= 2, "a random model passing " + r.passed() + " checks: " + r.checks());
        List<String> sweep = Files.readAllLines(Sweep.write(run, List.of(r)));
        assertEquals(2, sweep.size(), "header and one layer");
        assertTrue(sweep.get(1).startsWith(s.layer() + ","), sweep.get(1));
        Path report = Report.write(run, s.layer());
        String html = Files.readString(report);
        assertTrue(html.contains("random weights") && html.contains("V11"), "the report names the checks and why they fail");
        assertTrue(html.contains("<svg") && html.contains("tylenol"), "figures inline, the numerical grid among them");
        assertTrue(Files.exists(run.validate().resolve("L" + s.layer() + "-checks.csv")));
        assertTrue(Files.exists(run.validate().resolve("elo.csv")));

        // resuming with another story setting is refused, naming what differs; check settings may change
        EmovecException e = assertThrows(EmovecException.class, () -> run.open(modelPath, s.with(Map.of("topics", 2)), false));
        assertTrue(e.getMessage().contains("topics 1 vs 2"), e.getMessage());
        run.open(modelPath, s.with(Map.of("steerTop", 1)), false);
    }

    @Test
    void aNaNInTheResidualStopsExtractionNamingTheStory() throws Exception {
        Settings s = micro(model.layers()).with(Map.of("emotions", List.of("happy", "sad"), "neutralTopics", 2));
        RunDir run = new RunDir(dir.resolve("nan"));
        run.open(modelPath, s, false);
        Stories.run(run, model, s, Sizing.of(8), true);
        // the same model with one NaN in block 1's attention norm: every residual from block 1 on is NaN
        Path broken = dir.resolve("tiny-nan.gguf");
        Files.copy(modelPath, broken);
        try (org.emovec.gguf.GgufFile f = org.emovec.gguf.GgufFile.open(broken);
             java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(broken, java.nio.file.StandardOpenOption.WRITE)) {
            long at = f.dataStart() + f.tensor("blk.1.attn_norm.weight").offset();
            ch.write(java.nio.ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(Float.NaN).flip(), at);
        }
        try (Model nan = Model.load(broken, 0)) {
            EmovecException e = assertThrows(EmovecException.class, () -> Extract.run(run, nan, s, Sizing.of(8), true));
            assertTrue(e.getMessage().startsWith("story happy/0/0: the residual at layer 1 is NaN"), e.getMessage());
        }
        assertFalse(Files.exists(Extract.activationFile(run, "happy")), "nothing of the poisoned emotion was kept");
    }

    @Test
    void theSameCallAlwaysGivesTheSameStoryWhateverElseIsInTheBatch() throws Exception {
        Settings s = micro(model.layers()).with(Map.of("emotions", List.of("happy", "sad"), "neutralTopics", 2));
        RunDir a = new RunDir(dir.resolve("batch16")), b = new RunDir(dir.resolve("batch1"));
        a.open(modelPath, s, false);
        b.open(modelPath, s, false);
        Stories.run(a, model, s, Sizing.of(16), true);
        Stories.run(b, model, s, Sizing.of(1), true);
        for (String f : List.of("happy.jsonl", "sad.jsonl", "neutral.jsonl")) {
            assertEquals(Files.readString(a.stories().resolve(f)), Files.readString(b.stories().resolve(f)), f);
        }
    }
}
