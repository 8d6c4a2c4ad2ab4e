package org.emovec.pipeline;

import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

import org.emovec.io.AtomicFiles;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.svg.SVGGraphics2D;

/** The report's charts (JFreeChart), each written as SVG and PNG. */
final class Figures {
    private static final int W = 760, H = 420;

    static {
        System.setProperty("java.awt.headless", "true");
    }

    private Figures() {}

    /** Steering: each steered emotion's preference correlation r against its mean Elo change (V10). */
    static JFreeChart steering(Map<String, Double> r, Map<String, Double> delta, int layer) {
        XYSeries s = new XYSeries("steered emotions");
        for (var e : delta.entrySet()) s.add(r.get(e.getKey()), e.getValue());
        return ChartFactory.createScatterPlot("Steering on the activity tokens, layer " + layer, "r (probe on activity vs Elo)",
                "mean Elo change of steered activities", new XYSeriesCollection(s), PlotOrientation.VERTICAL, false, true, false);
    }

    /** Preference correlation r of every emotion, sorted. */
    static JFreeChart correlation(Map<String, Double> r, int layer) {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        r.entrySet().stream().sorted(Map.Entry.comparingByValue()).forEach(e -> d.addValue(e.getValue(), "r", e.getKey()));
        JFreeChart c = ChartFactory.createBarChart("Emotion probe on activity tokens vs Elo, layer " + layer, "emotion", "Pearson r", d,
                PlotOrientation.VERTICAL, false, true, false);
        c.getCategoryPlot().getDomainAxis().setTickLabelsVisible(r.size() <= 40);
        return c;
    }

    /** Mean baseline Elo per activity category. */
    static JFreeChart categories(Map<String, Double> byCategory) {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        byCategory.forEach((k, v) -> d.addValue(v, "Elo", k));
        return ChartFactory.createBarChart("Mean Elo by activity category (unsteered)", "category", "Elo", d, PlotOrientation.VERTICAL, false, true, false);
    }

    /** A layer sweep: one line per series (e.g. V3 hits, V10 r) over layers. */
    static JFreeChart sweep(String title, String yLabel, Map<String, double[][]> series) {
        XYSeriesCollection c = new XYSeriesCollection();
        for (var e : series.entrySet()) {
            XYSeries s = new XYSeries(e.getKey());
            for (double[] p : e.getValue()) if (!Double.isNaN(p[1])) s.add(p[0], p[1]);
            c.addSeries(s);
        }
        return ChartFactory.createXYLineChart(title, "layer (residual after block L)", yLabel, c, PlotOrientation.VERTICAL, true, true, false);
    }

    /**
     * Writes name.svg and name.png under dir; returns the SVG's file name, or "!" and why the figure could not
     * be drawn (e.g. a machine without fonts): a missing figure must never cost a finished run its report.
     */
    static String save(JFreeChart chart, Path dir, String name) throws IOException {
        try {
            return draw(chart, dir, name);
        } catch (IOException e) {
            throw e;
        } catch (Throwable e) { // AWT without fonts fails with Errors as well as exceptions
            return "!figure " + name + " not drawn (" + e + "): this machine's Java cannot render fonts; 'emovec report --out DIR'"
                    + " on a machine that can draws it from the same files";
        }
    }

    private static String draw(JFreeChart chart, Path dir, String name) throws IOException {
        chart.setBackgroundPaint(Color.WHITE);
        SVGGraphics2D g = new SVGGraphics2D(W, H);
        chart.draw(g, new java.awt.Rectangle(0, 0, W, H));
        AtomicFiles.write(dir.resolve(name + ".svg"), out -> out.write(g.getSVGDocument().getBytes(StandardCharsets.UTF_8)));
        AtomicFiles.write(dir.resolve(name + ".png"), out -> ChartUtils.writeChartAsPNG(out, chart, W, H));
        return name + ".svg";
    }
}
