package org.emovec.engine;

/**
 * The candidates' logits after the last prompt token (in the request's order); with allLogits, every
 * position's full logits row; and what the capture read (null when none was asked).
 */
public record ScoreResult(String id, float[] candidateLogits, float[][] logits, Captured captured) {}
