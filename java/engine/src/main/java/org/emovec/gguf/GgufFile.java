package org.emovec.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A GGUF file opened for reading: header, metadata and tensor table are parsed at once; tensor data is read
 * on demand. Every count and length in the header is checked against the bytes actually left in the file
 * before anything is allocated, so a corrupt or lying header gives a {@link GgufException}, never a huge
 * allocation.
 */
public final class GgufFile implements AutoCloseable {
    public static final int MAGIC = 0x46554747; // "GGUF" little-endian
    public static final int DEFAULT_ALIGNMENT = 32;

    private final Path path;
    private final FileChannel channel;
    private final long fileSize;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final Map<String, TensorInfo> tensors;
    private final long dataStart;

    private GgufFile(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        this.fileSize = channel.size();
        HeaderReader in = new HeaderReader();
        if (fileSize < 4 || in.i32("magic") != MAGIC) throw new GgufException(path, "not a GGUF file (no GGUF magic at the start)");
        version = in.i32("version");
        if (version < 2 || version > 3) throw new GgufException(path, "unsupported GGUF version " + version + " (emovec reads versions 2 and 3)");
        long nTensors = in.count("tensor count", 24);
        long nKv = in.count("metadata count", 12);
        Map<String, GgufValue> kv = new LinkedHashMap<>();
        for (long i = 0; i < nKv; i++) {
            String key = in.string("metadata key");
            GgufValueType type = in.valueType("metadata '" + key + "'");
            kv.put(key, in.value(type, key));
        }
        metadata = Collections.unmodifiableMap(kv);
        Map<String, TensorInfo> ts = new LinkedHashMap<>();
        for (long i = 0; i < nTensors; i++) {
            String name = in.string("tensor name");
            int nDims = in.i32("dimension count of '" + name + "'");
            if (nDims < 1 || nDims > 4) throw new GgufException(path, "tensor '" + name + "' has " + nDims + " dimensions (1 to 4 allowed): file is corrupt");
            long[] dims = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                dims[d] = in.i64("dimension of '" + name + "'");
                if (dims[d] <= 0) throw new GgufException(path, "tensor '" + name + "' has dimension " + dims[d] + ": file is corrupt");
            }
            int typeId = in.i32("type of '" + name + "'");
            GgmlType type = GgmlType.byId(typeId);
            if (type == null) throw new GgufException(path, "tensor '" + name + "' has unknown ggml type " + typeId);
            long offset = in.i64("offset of '" + name + "'");
            TensorInfo t = new TensorInfo(name, dims, type, offset);
            try {
                if (t.elements() % type.blockSize != 0 || t.bytes() < 0) throw new ArithmeticException(); // bytes(): overflow-checked too
            } catch (ArithmeticException e) {
                throw new GgufException(path, "tensor '" + name + "' has an impossible shape for " + type + ": file is corrupt");
            }
            if (ts.put(name, t) != null) throw new GgufException(path, "tensor '" + name + "' appears twice: file is corrupt");
        }
        tensors = Collections.unmodifiableMap(ts);
        long alignment = alignment();
        dataStart = (in.pos + alignment - 1) / alignment * alignment;
        for (TensorInfo t : tensors.values()) {
            long end = dataStart + t.offset() + t.bytes();
            if (t.offset() < 0 || t.offset() % alignment != 0 || end < 0 || end > fileSize) {
                throw new GgufException(path, "truncated or corrupt: tensor '" + t.name() + "' ends at byte " + end
                        + " but the file has " + fileSize + " bytes");
            }
        }
    }

    /** Opens and parses a GGUF file; every problem becomes a one-line {@link GgufException}. */
    public static GgufFile open(Path path) {
        if (!Files.exists(path)) throw new GgufException(path, "no such file (check the path)");
        if (Files.isDirectory(path)) throw new GgufException(path, "is a directory, not a GGUF file");
        FileChannel ch = null;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
            return new GgufFile(path, ch);
        } catch (NoSuchFileException e) {
            close(ch);
            throw new GgufException(path, "no such file (check the path)");
        } catch (IOException e) {
            close(ch);
            throw new GgufException(path, "cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            close(ch);
            throw e;
        }
    }

    private static void close(FileChannel ch) {
        if (ch != null) try { ch.close(); } catch (IOException ignored) { /* already failing */ }
    }

    public Path path() { return path; }
    public int version() { return version; }
    public long fileSize() { return fileSize; }
    public long dataStart() { return dataStart; }
    public Map<String, GgufValue> metadata() { return metadata; }
    public Map<String, TensorInfo> tensors() { return tensors; }

    public long alignment() {
        GgufValue a = metadata.get("general.alignment");
        if (a == null) return DEFAULT_ALIGNMENT;
        long v = a.asLong();
        if (v <= 0 || v > 1 << 20 || Long.bitCount(v) != 1) throw new GgufException(path, "general.alignment " + v + " is not a power of two");
        return v;
    }

    public GgufValue get(String key) { return metadata.get(key); }

    public String string(String key) {
        GgufValue v = metadata.get(key);
        if (v == null || v.type() != GgufValueType.STRING) throw new GgufException(path, "metadata '" + key + "' is missing or not a string");
        return v.asString();
    }

    public long integer(String key) {
        GgufValue v = metadata.get(key);
        try {
            if (v != null) return v.asLong();
        } catch (IllegalStateException ignored) { /* fall through */ }
        throw new GgufException(path, "metadata '" + key + "' is missing or not an integer");
    }

    public TensorInfo tensor(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new GgufException(path, "has no tensor '" + name + "'");
        return t;
    }

    /** The raw bytes of a tensor (at most 2 GiB). */
    public ByteBuffer rawData(TensorInfo t) {
        if (t.bytes() > Integer.MAX_VALUE) throw new GgufException(path, "tensor '" + t.name() + "' is over 2 GiB; read it in parts");
        ByteBuffer buf = ByteBuffer.allocate((int) t.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        readFully(buf, dataStart + t.offset());
        return buf.flip();
    }

    /** bytes raw bytes of a tensor starting at byte offset within it (e.g. a run of rows). */
    public ByteBuffer rawRange(TensorInfo t, long offset, int bytes) {
        if (offset < 0 || bytes < 0 || offset + bytes > t.bytes()) throw new IllegalArgumentException("range outside tensor " + t.name());
        ByteBuffer buf = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        readFully(buf, dataStart + t.offset() + offset);
        return buf.flip();
    }

    /** A tensor's values as floats, dequantized from F32, F16, BF16 or Q8_0 (at most 2^31 - 1 values). */
    public float[] floats(String name) {
        TensorInfo t = tensor(name);
        if (t.elements() > Integer.MAX_VALUE - 8) throw new GgufException(path, "tensor '" + name + "' is too large to read as one float array");
        return Dequantize.toFloats(t.type(), rawData(t), (int) t.elements(), () -> new GgufException(path,
                "tensor '" + name + "' has type " + t.type() + ", which emovec cannot dequantize (F32, F16, BF16, Q8_0 only)"));
    }

    private void readFully(ByteBuffer buf, long position) {
        try {
            while (buf.hasRemaining()) {
                int n = channel.read(buf, position + buf.position());
                if (n < 0) throw new GgufException(path, "truncated: ended at byte " + (position + buf.position()));
            }
        } catch (IOException e) {
            throw new GgufException(path, "cannot read: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        close(channel);
    }

    /** Reads the header sequentially through a small buffer, checking every length against the bytes left. */
    private final class HeaderReader {
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN).limit(0);
        private long pos; // file offset of the next unread byte

        private void need(int n, String what) {
            if (buf.remaining() >= n) return;
            if (pos + n > fileSize) throw new GgufException(path, "truncated: file ends at byte " + fileSize + " while reading " + what);
            buf.compact();
            try {
                while (buf.position() < n) {
                    int r = channel.read(buf, pos + buf.position());
                    if (r < 0) throw new GgufException(path, "truncated while reading " + what);
                }
            } catch (IOException e) {
                throw new GgufException(path, "cannot read: " + e.getMessage());
            }
            buf.flip();
        }

        int i32(String what) { need(4, what); pos += 4; return buf.getInt(); }
        long i64(String what) { need(8, what); pos += 8; return buf.getLong(); }

        long left() { return fileSize - pos; }

        /** A count of items that each take at least minBytes; rejects counts the file cannot hold. */
        long count(String what, long minBytes) {
            long n = i64(what);
            if (n < 0 || n > left() / minBytes) throw new GgufException(path, what + " " + Long.toUnsignedString(n) + " is more than the file can hold: file is corrupt or truncated");
            return n;
        }

        GgufValueType valueType(String what) {
            int id = i32("type of " + what);
            GgufValueType t = GgufValueType.byId(id);
            if (t == null) throw new GgufException(path, what + " has unknown value type " + id + ": file is corrupt");
            return t;
        }

        String string(String what) {
            long len = count("length of " + what, 1);
            if (len > 1 << 24) throw new GgufException(path, what + " is a string of " + len + " bytes (over 16 MiB): file is corrupt");
            byte[] bytes = new byte[(int) len];
            int off = 0;
            while (off < bytes.length) {
                need(1, what);
                int n = Math.min(buf.remaining(), bytes.length - off);
                buf.get(bytes, off, n);
                off += n;
                pos += n;
            }
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
            } catch (CharacterCodingException e) {
                throw new GgufException(path, what + " is not valid UTF-8: file is corrupt");
            }
        }

        Object scalar(GgufValueType t, String what) {
            switch (t) {
                case UINT8: need(1, what); pos += 1; return (long) (buf.get() & 0xff);
                case INT8: need(1, what); pos += 1; return (long) buf.get();
                case UINT16: need(2, what); pos += 2; return (long) (buf.getShort() & 0xffff);
                case INT16: need(2, what); pos += 2; return (long) buf.getShort();
                case UINT32: return (long) i32(what) & 0xffffffffL;
                case INT32: return (long) i32(what);
                case FLOAT32: need(4, what); pos += 4; return buf.getFloat();
                case BOOL: need(1, what); pos += 1; return buf.get() != 0;
                case STRING: return string(what);
                case UINT64: case INT64: return i64(what);
                case FLOAT64: need(8, what); pos += 8; return buf.getDouble();
                default: throw new GgufException(path, what + " nests an array in an array, which GGUF does not allow");
            }
        }

        GgufValue value(GgufValueType type, String key) {
            String what = "metadata '" + key + "'";
            if (type != GgufValueType.ARRAY) return new GgufValue(type, null, scalar(type, what));
            GgufValueType et = valueType("elements of " + what);
            if (et == GgufValueType.ARRAY) throw new GgufException(path, what + " nests an array in an array, which emovec does not read");
            long count = count("length of " + what, et.minBytes);
            if (count > Integer.MAX_VALUE - 8) throw new GgufException(path, what + " has " + count + " elements, more than emovec reads");
            int n = (int) count;
            Object arr = switch (et) {
                case STRING -> new String[n];
                case FLOAT32 -> new float[n];
                case FLOAT64 -> new double[n];
                case BOOL -> new boolean[n];
                case INT8, UINT8 -> new byte[n];
                case INT16, UINT16 -> new short[n];
                case INT32, UINT32 -> new int[n];
                default -> new long[n];
            };
            for (int i = 0; i < n; i++) {
                Object v = scalar(et, what);
                switch (et) {
                    case STRING -> ((String[]) arr)[i] = (String) v;
                    case FLOAT32 -> ((float[]) arr)[i] = (Float) v;
                    case FLOAT64 -> ((double[]) arr)[i] = (Double) v;
                    case BOOL -> ((boolean[]) arr)[i] = (Boolean) v;
                    case INT8, UINT8 -> ((byte[]) arr)[i] = ((Long) v).byteValue();
                    case INT16, UINT16 -> ((short[]) arr)[i] = ((Long) v).shortValue();
                    case INT32, UINT32 -> ((int[]) arr)[i] = ((Long) v).intValue();
                    default -> ((long[]) arr)[i] = (Long) v;
                }
            }
            return GgufValue.array(et, arr);
        }
    }
}
