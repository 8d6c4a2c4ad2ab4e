package org.emovec.gguf;

/** A tensor's entry in a GGUF file: dims in ggml order (dims[0] varies fastest), offset from the data start. */
public record TensorInfo(String name, long[] dims, GgmlType type, long offset) {
    public long elements() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    public long bytes() { return type.bytesFor(elements()); }
}
