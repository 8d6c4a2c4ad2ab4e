package org.emovec.gguf;

import java.io.IOException;
import java.lang.reflect.Array;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF (version 3) file: metadata in insertion order, then tensors, each aligned. Tensor bytes come
 * from a {@link TensorData} callback so multi-gigabyte models stream to disk. The file appears under its
 * name only when complete (written to a temporary name, then renamed).
 */
public final class GgufWriter {
    /** Fills the tensor's bytes, in order, into the channel. */
    @FunctionalInterface
    public interface TensorData {
        void write(FileChannel out) throws IOException;
    }

    private record Entry(String name, long[] dims, GgmlType type, TensorData data) {}

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();
    private final int alignment = GgufFile.DEFAULT_ALIGNMENT;

    public GgufWriter put(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    public GgufWriter putAll(Map<String, GgufValue> values) {
        metadata.putAll(values);
        return this;
    }

    public GgufWriter tensor(String name, long[] dims, GgmlType type, TensorData data) {
        tensors.add(new Entry(name, dims.clone(), type, data));
        return this;
    }

    /** Convenience for small tensors held in memory. */
    public GgufWriter tensor(String name, long[] dims, GgmlType type, ByteBuffer bytes) {
        return tensor(name, dims, type, out -> {
            ByteBuffer b = bytes.duplicate();
            while (b.hasRemaining()) out.write(b);
        });
    }

    public void write(Path target) throws IOException {
        Path tmp = org.emovec.io.AtomicFiles.tempFor(target);
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            writeHeader(out);
            for (Entry e : tensors) {
                pad(out);
                long start = out.position();
                e.data.write(out);
                long want = new TensorInfo(e.name, e.dims, e.type, 0).bytes();
                if (out.position() - start != want) {
                    throw new IllegalStateException("tensor '" + e.name + "' wrote " + (out.position() - start) + " bytes, expected " + want);
                }
            }
            out.force(false);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        org.emovec.io.AtomicFiles.commit(tmp, target);
    }

    private void pad(FileChannel out) throws IOException {
        long p = out.position();
        long aligned = (p + alignment - 1) / alignment * alignment;
        if (aligned > p) out.write(ByteBuffer.allocate((int) (aligned - p)));
    }

    private void writeHeader(FileChannel out) throws IOException {
        Buf b = new Buf(out);
        b.i32(GgufFile.MAGIC).i32(3).i64(tensors.size()).i64(metadata.size());
        for (Map.Entry<String, GgufValue> kv : metadata.entrySet()) {
            b.string(kv.getKey());
            GgufValue v = kv.getValue();
            b.i32(v.type().id);
            if (v.type() == GgufValueType.ARRAY) {
                int n = Array.getLength(v.value());
                b.i32(v.elementType().id).i64(n);
                for (int i = 0; i < n; i++) b.scalar(v.elementType(), Array.get(v.value(), i));
            } else {
                b.scalar(v.type(), v.value());
            }
        }
        long offset = 0;
        for (Entry e : tensors) {
            b.string(e.name).i32(e.dims.length);
            for (long d : e.dims) b.i64(d);
            b.i32(e.type.id).i64(offset);
            long bytes = new TensorInfo(e.name, e.dims, e.type, 0).bytes();
            offset += (bytes + alignment - 1) / alignment * alignment;
        }
        b.flush();
    }

    /** A little-endian buffered writer for the header. */
    private static final class Buf {
        private final FileChannel out;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        Buf(FileChannel out) { this.out = out; }

        Buf room(int n) throws IOException {
            if (buf.remaining() < n) flush();
            return this;
        }

        void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) out.write(buf);
            buf.clear();
        }

        Buf i32(int v) throws IOException { room(4).buf.putInt(v); return this; }
        Buf i64(long v) throws IOException { room(8).buf.putLong(v); return this; }

        Buf string(String s) throws IOException {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            i64(bytes.length);
            int off = 0;
            while (off < bytes.length) {
                room(1);
                int n = Math.min(buf.remaining(), bytes.length - off);
                buf.put(bytes, off, n);
                off += n;
            }
            return this;
        }

        void scalar(GgufValueType t, Object v) throws IOException {
            switch (t) {
                case UINT8, INT8 -> room(1).buf.put(((Number) v).byteValue());
                case UINT16, INT16 -> room(2).buf.putShort(((Number) v).shortValue());
                case UINT32, INT32 -> i32(((Number) v).intValue());
                case FLOAT32 -> room(4).buf.putFloat(((Number) v).floatValue());
                case BOOL -> room(1).buf.put((byte) (((Boolean) v) ? 1 : 0));
                case STRING -> string((String) v);
                case UINT64, INT64 -> i64(((Number) v).longValue());
                case FLOAT64 -> room(8).buf.putDouble(((Number) v).doubleValue());
                default -> throw new IllegalArgumentException("nested arrays are not written");
            }
        }
    }
}
