package org.emovec.pipeline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.emovec.engine.CaptureRequest;
import org.emovec.engine.ChatMessage;
import org.emovec.engine.EmovecException;
import org.emovec.engine.Model;
import org.emovec.engine.PromptScorer;
import org.emovec.engine.ScoreRequest;
import org.emovec.engine.ScoreResult;
import org.emovec.engine.Span;
import org.emovec.paperdata.PaperData;

/**
 * The residual stream on the paper's probe prompts, each a user turn through the model's chat template, at
 * every layer asked, in one batched pass: the 12 implicit scenarios and the numerical templates read at one
 * token before the reply (readAt "header-end": the prompt's last token, the "\n\n" closing Llama 3's assistant
 * header; "header": the token before it, &lt;|end_header_id|&gt;), and "How would you feel about {activity}?"
 * averaged over the activity's tokens.
 */
final class Probes {
    private final int[] layers;
    private final Map<String, float[][]> byId = new HashMap<>(); // id -> [layer index][width]

    private Probes(int[] layers) { this.layers = layers; }

    /** The probe prompts (implicit scenarios, numerical templates, feelings about each activity) at these layers. */
    static List<ScoreRequest> requests(Model model, Settings s, List<Integer> layerList) {
        int[] layers = layerList.stream().mapToInt(Integer::intValue).toArray();
        List<ScoreRequest> requests = new ArrayList<>();
        List<PaperData.ImplicitScenario> scenarios = PaperData.implicitScenarios();
        for (int i = 0; i < scenarios.size(); i++) requests.add(atReply(model, "scenario/" + i, scenarios.get(i).prompt(), s, layers));
        List<PaperData.NumericalTemplate> templates = PaperData.numericalTemplates();
        for (int t = 0; t < templates.size(); t++) {
            for (int v = 0; v < templates.get(t).values().size(); v++) {
                String text = templates.get(t).template().replace("{X}", templates.get(t).values().get(v));
                requests.add(atReply(model, "numerical/" + t + "/" + v, text, s, layers));
            }
        }
        List<PaperData.Activity> activities = PaperData.activities();
        for (int a = 0; a < activities.size(); a++) {
            String question = "How would you feel about " + activities.get(a).text() + "?";
            String text = model.applyChatTemplate(List.of(ChatMessage.user(question)), true);
            int[] tokens = model.tokenize(text, true, true);
            int start = text.indexOf(question) + "How would you feel about ".length();
            Span span = model.spanOf(tokens, text, start, start + activities.get(a).text().length());
            requests.add(ScoreRequest.of("feeling/" + a, tokens).withCapture(CaptureRequest.mean(span, layers)));
        }
        return requests;
    }

    /** Captures the requests' residual means (requests(), at these layers). */
    static Probes capture(PromptScorer scorer, List<ScoreRequest> requests, List<Integer> layerList) {
        Probes p = new Probes(layerList.stream().mapToInt(Integer::intValue).toArray());
        for (ScoreResult r : scorer.score(requests)) {
            float[][] means = r.captured().means();
            for (float[] m : means) {
                for (float x : m) if (!Float.isFinite(x)) throw new EmovecException("probe prompt " + r.id() + ": the residual holds NaN/Inf: the model overflows on it");
            }
            p.byId.put(r.id(), means);
        }
        return p;
    }

    private static ScoreRequest atReply(Model model, String id, String userText, Settings s, int[] layers) {
        int[] tokens = model.tokenize(model.applyChatTemplate(List.of(ChatMessage.user(userText)), true), true, true);
        int pos = s.readAt().equals("header") ? tokens.length - 2 : tokens.length - 1;
        return ScoreRequest.of(id, tokens).withCapture(CaptureRequest.mean(Span.of(pos, pos + 1), layers));
    }

    private int index(int layer) {
        for (int i = 0; i < layers.length; i++) if (layers[i] == layer) return i;
        throw new IllegalArgumentException("layer " + layer + " was not captured");
    }

    float[] scenario(int layer, int i) { return byId.get("scenario/" + i)[index(layer)]; }

    float[] numerical(int layer, int template, int value) { return byId.get("numerical/" + template + "/" + value)[index(layer)]; }

    float[][] feeling(int layer) {
        int n = PaperData.activities().size();
        float[][] out = new float[n][];
        for (int a = 0; a < n; a++) out[a] = byId.get("feeling/" + a)[index(layer)];
        return out;
    }
}
