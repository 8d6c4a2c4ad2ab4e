package org.emovec.engine;

/**
 * Token positions [from, to) of one sequence, as llama_batch numbers them (the first prompt token is 0).
 * {@link #from(int)} reaches to the end of the sequence, however long it gets.
 */
public record Span(int from, int to) {
    public static final int END = Integer.MAX_VALUE;

    public Span {
        if (from < 0 || to < from) throw new IllegalArgumentException("bad token span [" + from + ", " + to + ")");
    }

    public static Span of(int from, int to) { return new Span(from, to); }

    /** From a position to the end (the paper averages from token 50 on: {@code Span.from(50)}). */
    public static Span from(int from) { return new Span(from, END); }

    public static Span all() { return new Span(0, END); }

    public boolean contains(int pos) { return pos >= from && pos < to; }

    /** This span cut to a sequence of n tokens. */
    public Span clip(int n) { return new Span(Math.min(from, n), Math.min(to, n)); }

    public int length() { return to - from; }
}
