package org.emovec.pipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.emovec.gguf.GgufFile;
import org.emovec.gguf.GgufValue;
import org.emovec.io.AtomicFiles;
import org.emovec.paperdata.PaperData;

/**
 * Stage 4: one HTML page (report/index.html, figures beside it) with the verdict, every check with its value,
 * threshold and definition, the random-direction controls, every setting and every choice the paper left open,
 * and where each output file is. When checks fail it says what the controls show about why.
 */
public final class Report {
    private Report() {}

    public static Path write(RunDir dir, int layer) throws IOException {
        RunDir.Manifest m = dir.manifest();
        Validate.LayerResult r = Validate.read(dir, layer);
        Vectors.Meta meta = Vectors.meta(dir);
        Path out = dir.report();
        Files.createDirectories(out);
        Settings s = r.settings();
        String description = modelDescription(Path.of(m.model()));

        StringBuilder h = new StringBuilder();
        h.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>emovec report</title><style>")
                .append("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}")
                .append("table{border-collapse:collapse;margin:1em 0}.pass{color:#070;font-weight:bold}.fail{color:#b00;font-weight:bold}.na{color:#777}code{background:#f4f4f4}")
                .append("</style></head><body>\n");
        h.append("<h1>Emotion vectors: ").append(esc(Path.of(m.model()).getFileName().toString())).append(", layer ").append(layer).append("</h1>\n");
        h.append("<p>A reproduction of Sofroniew et al. (2026), <i>Emotion Concepts and their Function in a Large Language Model</i> ")
                .append("(transformer-circuits.pub/2026/emotions, arXiv 2604.07729), made by ").append(esc(m.emovec())).append(". Model sha256 <code>")
                .append(m.modelSha256(), 0, 16).append("…</code>").append(description.isEmpty() ? "" : "; GGUF description: " + esc(description)).append(".</p>\n");

        h.append("<h2>Verdict</h2>\n<p><b>").append(r.passed()).append(" of ").append(r.applicable()).append(" checks pass</b> (")
                .append(r.checks().size() - r.applicable()).append(" not applicable at this scale).</p>\n");
        for (String line : why(r, description)) h.append("<p>").append(esc(line)).append("</p>\n");

        h.append("<h2>Checks</h2>\n<table><tr><th>check</th><th>what</th><th>value</th><th>threshold</th><th></th><th>how</th></tr>\n");
        for (Checks.Check c : r.checks()) {
            String cls = c.pass() == null ? "na" : c.pass() ? "pass" : "fail";
            h.append("<tr><td>").append(c.id()).append("</td><td>").append(esc(c.name())).append("</td><td>").append(esc(c.value()))
                    .append("</td><td>").append(esc(c.threshold())).append("</td><td class=\"").append(cls).append("\">")
                    .append(c.pass() == null ? "n/a" : c.pass() ? "pass" : "FAIL").append("</td><td>").append(esc(c.how())).append("</td></tr>\n");
        }
        h.append("</table>\n<p>Reference (a reproduction on Llama 3.1 8B Instruct, layer 21): V1 34/171, V2 5/5, V3 6/12, V4 1.58, V5 19/24, V6 20/24, ")
                .append("V7 gap 261, V8 3+3, V9 53/171, V10 r = 0.956 (n = 36), V11 34/36. The paper (Claude Sonnet 4.5): steering r = 0.85 over 35 vectors.</p>\n");

        h.append("<h2>Logit lens</h2>\n<table><tr><th>emotion</th><th>top ↑ tokens</th><th>bottom ↓ tokens</th></tr>\n");
        for (var e : r.lensTop().entrySet()) {
            h.append("<tr><td>").append(esc(e.getKey())).append("</td><td>").append(esc(String.join(" · ", e.getValue()))).append("</td><td>")
                    .append(esc(String.join(" · ", r.lensBottom().get(e.getKey())))).append("</td></tr>\n");
        }
        h.append("</table>\n");

        h.append("<h2>Implicit scenarios</h2>\n<p>Cosine similarity of the activation before the reply with each scenario emotion's vector")
                .append(s.scenarioCentering().equals("columns") ? ", centred per emotion across scenarios" : "").append("; the diagonal should stand out.</p>\n");
        h.append(heatmap(r.scenarioTitles(), r.scenarioEmotions(), r.scenarioMatrix()));

        h.append("<h2>Preferences and steering</h2>\n");
        h.append("<p>Elo of the 64 activities (unsteered) vs the paper's Elo for Claude: Spearman ρ = ").append(String.format("%.2f", r.eloVsPaperSpearman()))
                .append(". Steering: alpha = ").append(s.steerAlphaNorm()).append(" × mean residual norm (").append(String.format("%.2f", r.meanResidualNorm()))
                .append(") = ").append(String.format("%.2f", r.alpha())).append(", added only on the steered activity's tokens.</p>\n");
        h.append(figure(out, Figures.save(Figures.categories(r.categoryElo()), out, "categories")));
        h.append(figure(out, Figures.save(Figures.correlation(r.correlation(), PaperData.valences(), layer), out, "correlation")));
        if (r.steeringDeltaElo() != null) h.append(figure(out, Figures.save(Figures.steering(r.correlation(), r.steeringDeltaElo(), layer), out, "steering")));
        for (var x : r.exemplarProbe().entrySet()) {
            String e = x.getKey();
            double[][] probeVsElo = new double[r.elo().length][];
            for (int a = 0; a < probeVsElo.length; a++) probeVsElo[a] = new double[] {x.getValue()[a], r.elo()[a]};
            h.append("<h3>").append(esc(e)).append(String.format(" (r = %.2f", r.correlation().get(e)))
                    .append(r.steeringDeltaElo() != null && r.steeringDeltaElo().containsKey(e) ? String.format(", steering ΔElo = %+.1f", r.steeringDeltaElo().get(e)) : "")
                    .append(")</h3>\n");
            h.append(figure(out, Figures.save(Figures.scatter(e + ": probe on the activity vs its Elo", "probe (activation . vector)", "Elo (unsteered)",
                    Map.of("activities", probeVsElo)), out, "exemplar-" + RunDir.fileName(e) + "-probe")));
            double[] steeredElo = r.exemplarSteeredElo().get(e);
            if (steeredElo != null) {
                List<double[]> pts = new ArrayList<>();
                for (int a = 0; a < steeredElo.length; a++) if (r.steeredActivities()[a]) pts.add(new double[] {r.elo()[a], steeredElo[a] - r.elo()[a]});
                h.append(figure(out, Figures.save(Figures.scatter(e + ": Elo change of the steered activities", "Elo (unsteered)", "ΔElo when steered",
                        Map.of("steered activities", pts.toArray(double[][]::new))), out, "exemplar-" + RunDir.fileName(e) + "-steered")));
            }
        }

        h.append("<h2>Numerical modulation</h2>\n<p>Probe (activation before the reply · vector) against the quantity X of each template; ")
                .append("rho is Spearman's; V5/V6 count the series with a trend the paper reports.</p>\n");
        Map<String, List<Checks.Series>> byTemplate = new java.util.LinkedHashMap<>();
        for (Checks.Series sr : r.numerical()) byTemplate.computeIfAbsent(sr.template(), k -> new ArrayList<>()).add(sr);
        for (var t : byTemplate.entrySet()) h.append(figure(out, Figures.save(Figures.numerical(t.getKey(), t.getValue()), out, "numerical-" + t.getKey())));

        Map<String, Object> times = dir.timings();
        if (!times.isEmpty()) h.append("<p>Run times (wall, this machine): ").append(esc(times.toString())).append(".</p>\n");
        h.append("<h2>Method and choices</h2>\n<table>\n");
        for (String[] row : choices(s, meta, r)) h.append("<tr><td>").append(esc(row[0])).append("</td><td>").append(esc(row[1])).append("</td></tr>\n");
        h.append("</table>\n<h2>Settings</h2>\n<table>\n");
        for (Map.Entry<String, Object> e : s.asMap().entrySet()) {
            String v = e.getKey().equals("emotions") ? s.emotions().size() + " emotions: " + String.join(", ", s.emotions()) : String.valueOf(e.getValue());
            h.append("<tr><td>").append(esc(e.getKey())).append("</td><td>").append(esc(v)).append("</td><td>").append(Settings.stageOf(e.getKey())).append("</td></tr>\n");
        }
        h.append("</table>\n<h2>Files</h2>\n<p><code>stories/</code> the corpus (JSONL per emotion), <code>activations/</code> per-emotion means (.npy, layers × width), ")
                .append("<code>vectors/L&lt;L&gt;.npy</code> unit emotion vectors (rows in the order of <code>vectors/vectors.json</code>), ")
                .append("<code>validate/</code> per-layer results (JSON, CSV), <code>elo.csv</code>. Layer convention: ").append(esc(Vectors.CONVENTION))
                .append(". A vector becomes a llama.cpp control vector with <code>emovec control-vector</code>.</p>\n");
        h.append("<p>Data: the paper's 171 emotions, 100 topics, 64 activities, prompts and scenarios, transcribed as described in emovec's paperdata/SOURCES.md.</p>\n");
        h.append("</body></html>\n");
        Path index = out.resolve("index.html");
        AtomicFiles.writeString(index, h.toString());
        return index;
    }

    /** Why the checks came out as they did, from the random-direction controls and the model's own description. */
    static List<String> why(Validate.LayerResult r, String description) {
        List<String> lines = new ArrayList<>();
        boolean random = description.contains("random weights");
        if (random) {
            lines.add("The model's GGUF says: \"" + description + "\". A model with random weights has never read text, so it holds no"
                    + " emotion concepts and its checks must fail: failing here shows that the checks can fail; a pass would be chance or a bug.");
        }
        long failed = r.checks().stream().filter(c -> Boolean.FALSE.equals(c.pass())).count();
        if (failed > 0) {
            List<String> noBetter = new ArrayList<>();
            for (Checks.Check c : r.checks()) {
                if (!c.value().contains("random directions:") || !Boolean.FALSE.equals(c.pass())) continue;
                noBetter.add(c.id());
            }
            if (!noBetter.isEmpty()) {
                lines.add("Failing checks " + noBetter + " come with a control: the same statistic for random directions of the same width "
                        + "(see the value column). Where the emotion vectors do no better than random directions, the vectors carry no emotion "
                        + "signal at this layer: the model lacks the concepts, the stories did not convey them, or the layer is wrong (try 'emovec sweep').");
            }
            if (!random) {
                lines.add("Small screening runs (few topics and stories) give noisy vectors; the paper's scale is 171 emotions x 100 topics x 12 stories.");
            }
        }
        return lines;
    }

    private static List<String[]> choices(Settings s, Vectors.Meta meta, Validate.LayerResult r) {
        List<String[]> c = new ArrayList<>();
        c.add(new String[] {"stories", "the paper's story prompt verbatim as the system message, user turn '" + s.storyUserTurn() + "', "
                + s.storiesPerCall() + " story per call (seed from emotion, topic and story index), split at <NEW STORY>; sampling temperature "
                + s.temperature() + ", top-k " + s.topK() + ", top-p " + s.topP() + ", at most " + s.storyMaxTokens() + " tokens per story"});
        c.add(new String[] {"activations", "each story alone (BOS + its text, no prompt), residual averaged from position " + s.fromToken()
                + " (the story's " + s.fromToken() + "th token) on; an emotion's activation is the mean of its stories' means; stories per emotion: "
                + meta.stories().stream().mapToInt(Integer::intValue).min().orElse(0) + ".." + meta.stories().stream().mapToInt(Integer::intValue).max().orElse(0)});
        c.add(new String[] {"confound removal", s.neutralTopics() + " neutral topics (emovec's list) x " + s.dialoguesPerTopic()
                + " dialogues from the paper's neutral-dialogue prompt; PCA over per-dialogue mean activations (all tokens); " + r.pcaComponents()
                + " components explain " + String.format("%.0f%%", 100 * r.pcaExplained()) + " of their variance (target " + (int) (100 * s.pcaVariance()) + "%) and are projected out; vectors unit length"});
        c.add(new String[] {"probe token", "implicit scenarios and numerical templates read at " + (s.readAt().equals("header") ? "the assistant header's last special token" : "the last prompt token (the \\n\\n after the assistant header)")});
        c.add(new String[] {"preference", "all 4032 ordered pairs, chat template + '(' prefilled, P(A) = sigmoid(logit A - logit B), averaged over both orders; Elo start "
                + s.eloStart() + ", K " + s.eloK() + ", averaged over " + s.eloOrders() + " seeded orders of the 2016 pairs"});
        c.add(new String[] {"steering", "odd-indexed activities of each category steered (32), the top " + s.steerTop() + " emotions by |r| plus "
                + s.steerExemplars() + "; prompts with no steered activity reuse the unsteered logits"});
        c.add(new String[] {"logit lens", "W_U(g * v) with g the final RMSNorm weight; top " + s.lensTopK() + " for V1"});
        c.add(new String[] {"controls", "random unit directions (seeded), one per emotion, through V1, V3, V4 and V9 (V9: "
                + Validate.RANDOM_SETS + " sets, its null distribution); every count check must beat chance (p < 0.05)"});
        return c;
    }

    private static String heatmap(List<String> rows, List<String> cols, double[][] m) {
        double max = 1e-12;
        for (double[] row : m) for (double v : row) max = Math.max(max, Math.abs(v));
        StringBuilder h = new StringBuilder("<table><tr><th></th>");
        for (String c : cols) h.append("<th>").append(esc(c)).append("</th>");
        h.append("</tr>\n");
        for (int i = 0; i < rows.size(); i++) {
            h.append("<tr><td>").append(esc(rows.get(i))).append("</td>");
            for (int j = 0; j < cols.size(); j++) {
                double v = m[i][j] / max;
                int shade = (int) (255 - 155 * Math.abs(v));
                String color = v >= 0 ? "rgb(" + shade + "," + shade + ",255)" : "rgb(255," + shade + "," + shade + ")";
                h.append("<td style=\"background:").append(color).append(i == j ? ";font-weight:bold" : "").append("\">")
                        .append(String.format("%.3f", m[i][j])).append("</td>");
            }
            h.append("</tr>\n");
        }
        return h.append("</table>\n").toString();
    }

    /** A figure inlined as SVG (the page stands alone; PNG and SVG files lie beside it), or why it is missing. */
    private static String figure(Path dir, String file) throws IOException {
        if (file.startsWith("!")) return "<p><i>" + esc(file.substring(1)) + "</i></p>\n";
        String svg = Files.readString(dir.resolve(file));
        return "<div>" + svg.substring(svg.indexOf("<svg")) + "</div>\n";
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static String modelDescription(Path model) {
        try (GgufFile f = GgufFile.open(model)) {
            GgufValue v = f.get("general.description");
            return v == null ? "" : String.valueOf(v.value());
        } catch (RuntimeException e) {
            return "";
        }
    }
}
