package org.emovec.pipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.commons.math3.stat.correlation.PearsonsCorrelation;
import org.emovec.io.AtomicFiles;

/**
 * The layer sweep: the checks at each of a range of layers from the activations captured once by extract (the
 * probes are run once for all layers; steering, when on, is one batched job per emotion and layer), as a table
 * (sweep/sweep.csv, every check's pass/fail per layer) and a figure of V3 and V10 over the layers.
 */
public final class Sweep {
    private Sweep() {}

    public static Path write(RunDir dir, List<Validate.LayerResult> results) throws IOException {
        Path out = dir.sweep();
        Files.createDirectories(out);
        StringBuilder csv = new StringBuilder("layer,v3_argmax_hits,v3_of,v9_count_abs_r_gt_0.3,v10_r,passed,applicable");
        for (Checks.Check c : results.get(0).checks()) csv.append(',').append(c.id());
        csv.append('\n');
        Map<String, double[][]> v3 = new LinkedHashMap<>(), v10 = new LinkedHashMap<>();
        double[][] v3Points = new double[results.size()][], v10Points = new double[results.size()][];
        for (int i = 0; i < results.size(); i++) {
            Validate.LayerResult r = results.get(i);
            int[] ranks = Checks.diagonalRanks(r.scenarioMatrix());
            long hits = java.util.Arrays.stream(ranks).filter(x -> x == 1).count();
            long strong = r.correlation().values().stream().filter(x -> Math.abs(x) > 0.3).count();
            double steer = Double.NaN;
            if (r.steeringDeltaElo() != null && r.steeringDeltaElo().size() >= 3) {
                double[] rs = r.steeringDeltaElo().keySet().stream().mapToDouble(e -> r.correlation().get(e)).toArray();
                double[] ds = r.steeringDeltaElo().values().stream().mapToDouble(Double::doubleValue).toArray();
                steer = new PearsonsCorrelation().correlation(rs, ds);
            }
            v3Points[i] = new double[] {r.layer(), hits};
            v10Points[i] = new double[] {r.layer(), steer};
            csv.append(r.layer()).append(',').append(hits).append(',').append(ranks.length).append(',').append(strong).append(',')
                    .append(Double.isNaN(steer) ? "" : String.format("%.4f", steer)).append(',').append(r.passed()).append(',').append(r.applicable());
            for (Checks.Check c : r.checks()) csv.append(',').append(c.pass() == null ? "n/a" : c.pass() ? "pass" : "fail");
            csv.append('\n');
        }
        v3.put("V3: scenarios whose own emotion is the argmax", v3Points);
        v10.put("V10: r(correlation, steering Elo change)", v10Points);
        AtomicFiles.writeString(out.resolve("sweep.csv"), csv.toString());
        Figures.save(Figures.sweep("Implicit scenarios by layer", "argmax hits", v3), out, "sweep-v3");
        Figures.save(Figures.sweep("Steering vs correlation by layer", "Pearson r", v10), out, "sweep-v10");
        return out.resolve("sweep.csv");
    }
}
