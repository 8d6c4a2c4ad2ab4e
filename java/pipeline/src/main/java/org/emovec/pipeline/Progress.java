package org.emovec.pipeline;

import java.time.temporal.ChronoUnit;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/** A stage's progress on stderr: done/total, rate and ETA (me.tongfei progressbar); silent when quiet. */
final class Progress implements AutoCloseable {
    private final ProgressBar bar;

    Progress(String task, long total, long done, String unit, boolean quiet) {
        bar = quiet || total <= 0 ? null : new ProgressBarBuilder().setTaskName(task).setInitialMax(total).startsFrom(done, java.time.Duration.ZERO)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate()
                .setUnit(" " + unit, 1).showSpeed(new java.text.DecimalFormat("#.#")).setSpeedUnit(ChronoUnit.SECONDS).build();
    }

    void step(long n) { if (bar != null) bar.stepBy(n); }

    void message(String m) { if (bar != null) bar.setExtraMessage(" " + m); }

    @Override
    public void close() { if (bar != null) bar.close(); }
}
