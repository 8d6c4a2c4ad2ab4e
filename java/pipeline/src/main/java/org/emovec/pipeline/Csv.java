package org.emovec.pipeline;

/** CSV fields (RFC 4180 quoting where needed). */
final class Csv {
    private Csv() {}

    static String quote(String s) {
        if (s == null) return "";
        return s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replace("\"", "\"\"") + "\"" : s;
    }
}
