package org.emovec.pipeline;

import java.time.Duration;
import java.time.temporal.ChronoUnit;
import java.util.function.Consumer;

import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A stage's progress on stderr: done/total, rate and ETA (me.tongfei progressbar); silent when quiet. On a terminal
 * the bar redraws in place twice a second; otherwise (a run logged to a file, under nohup or a job scheduler) it
 * writes a whole line every {@link #LOG_INTERVAL}, so a log of a long run stays readable.
 */
public final class Progress implements AutoCloseable {
    static final Duration LOG_INTERVAL = Duration.ofSeconds(30);

    private final ProgressBar bar;

    public Progress(String task, long total, long done, String unit, boolean quiet) {
        if (quiet || total <= 0) { bar = null; return; }
        ProgressBarBuilder b = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).startsFrom(done, Duration.ZERO)
                .setStyle(ProgressBarStyle.ASCII).continuousUpdate()
                .setUnit(" " + unit, 1).showSpeed(new java.text.DecimalFormat("#.#")).setSpeedUnit(ChronoUnit.SECONDS);
        if (onTerminal()) b.setUpdateIntervalMillis(500);
        else b.setUpdateIntervalMillis((int) LOG_INTERVAL.toMillis()).setConsumer(new DelegatingProgressBarConsumer(newLinesOnly(), 120));
        bar = b.build();
    }

    /** Whether stdin and stdout are a terminal (from Java 22 a Console exists without one: isTerminal tells). */
    private static boolean onTerminal() {
        java.io.Console c = System.console();
        if (c == null) return false;
        try {
            return (Boolean) java.io.Console.class.getMethod("isTerminal").invoke(c);
        } catch (ReflectiveOperationException e) {
            return true; // Java 17-21: a Console means a terminal
        }
    }

    /** Prints each line unless it repeats the one before (the library draws the finished bar twice). */
    private static Consumer<String> newLinesOnly() {
        String[] last = {null};
        return line -> {
            if (!line.equals(last[0])) System.err.println(line);
            last[0] = line;
        };
    }

    public void step(long n) { if (bar != null) bar.stepBy(n); }

    public void message(String m) { if (bar != null) bar.setExtraMessage(" " + m); }

    @Override
    public void close() { if (bar != null) bar.close(); }
}
