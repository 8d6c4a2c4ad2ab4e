package org.emovec.pipeline;

import java.awt.Color;
import java.awt.Paint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.emovec.io.AtomicFiles;
import org.emovec.paperdata.PaperData;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.renderer.category.BarRenderer;
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
        double[] xs = delta.keySet().stream().mapToDouble(r::get).toArray(), ys = delta.values().stream().mapToDouble(Double::doubleValue).toArray();
        String fit = xs.length >= 3 ? String.format(" (r = %.2f, n = %d)", new org.apache.commons.math3.stat.correlation.PearsonsCorrelation().correlation(xs, ys), xs.length) : "";
        return ChartFactory.createScatterPlot("Steering on the activity tokens, layer " + layer + fit, "r (probe on activity vs Elo)",
                "mean Elo change of steered activities", new XYSeriesCollection(s), PlotOrientation.VERTICAL, false, true, false);
    }

    /** Preference correlation r of every emotion, sorted, coloured by valence (blue positive, red negative). */
    static JFreeChart correlation(Map<String, Double> r, Map<String, PaperData.Valence> valence, int layer) {
        DefaultCategoryDataset d = new DefaultCategoryDataset();
        List<String> order = r.entrySet().stream().sorted(Map.Entry.comparingByValue()).map(Map.Entry::getKey).toList();
        for (String e : order) d.addValue(r.get(e), "r", e);
        JFreeChart c = ChartFactory.createBarChart("Emotion probe on activity tokens vs Elo, layer " + layer + " (blue: positive valence)",
                "emotion", "Pearson r", d, PlotOrientation.VERTICAL, false, true, false);
        c.getCategoryPlot().setRenderer(new BarRenderer() {
            @Override
            public Paint getItemPaint(int row, int column) {
                return valence.get(order.get(column)) == PaperData.Valence.POSITIVE ? new Color(60, 90, 200) : new Color(200, 60, 60);
            }
        });
        c.getCategoryPlot().getDomainAxis().setTickLabelsVisible(r.size() <= 40);
        return c;
    }

    /** An (x, y) scatter of named series. */
    static JFreeChart scatter(String title, String xLabel, String yLabel, Map<String, double[][]> series) {
        XYSeriesCollection c = new XYSeriesCollection();
        for (var e : series.entrySet()) {
            XYSeries s = new XYSeries(e.getKey(), false);
            for (double[] p : e.getValue()) s.add(p[0], p[1]);
            c.addSeries(s);
        }
        return ChartFactory.createScatterPlot(title, xLabel, yLabel, c, PlotOrientation.VERTICAL, series.size() > 1, true, false);
    }

    /** One numerical template: each emotion's probe against the template's X (log scale when X spans decades). */
    static JFreeChart numerical(String template, List<Checks.Series> series) {
        XYSeriesCollection c = new XYSeriesCollection();
        boolean log = true;
        for (Checks.Series s : series) {
            XYSeries xy = new XYSeries(String.format("%s (rho %.2f)", s.emotion(), s.rho()));
            for (int i = 0; i < s.x().length; i++) xy.add(s.x()[i], s.probe()[i]);
            c.addSeries(xy);
            log &= s.x()[0] > 0 && s.x()[s.x().length - 1] / s.x()[0] >= 100;
        }
        JFreeChart chart = ChartFactory.createXYLineChart(template, "X", "probe (activation . vector)", c, PlotOrientation.VERTICAL, true, true, false);
        if (log) chart.getXYPlot().setDomainAxis(new LogAxis("X"));
        return chart;
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
