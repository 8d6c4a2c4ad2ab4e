package org.emovec.io;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** NumPy .npy files (format 1.0) of little-endian float32 matrices: what numpy.load reads directly. */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};

    private Npy() {}

    /** Writes rows (all the same length) as a (rows, cols) float32 array, atomically. */
    public static void write(Path target, float[][] rows) throws IOException {
        int cols = rows.length == 0 ? 0 : rows[0].length;
        for (float[] r : rows) if (r.length != cols) throw new IllegalArgumentException("ragged rows in " + target);
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows.length + ", " + cols + "), }";
        int headerLen = MAGIC.length + 2 + dict.length() + 1;
        int pad = (64 - headerLen % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        AtomicFiles.write(target, out -> {
            out.write(MAGIC);
            ByteBuffer len = ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) header.length());
            out.write(len.array());
            out.write(header.getBytes(StandardCharsets.US_ASCII));
            ByteBuffer row = ByteBuffer.allocate(cols * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float[] r : rows) {
                row.clear();
                row.asFloatBuffer().put(r);
                out.write(row.array());
            }
        });
    }

    /** Reads a 1-D or 2-D little-endian float32 .npy as rows (a 1-D array is one row). */
    public static float[][] read(Path source) throws IOException {
        try (DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(Files.newInputStream(source)))) {
            byte[] magic = in.readNBytes(8);
            if (magic.length < 8 || magic[0] != MAGIC[0] || magic[1] != 'N' || magic[5] != 'Y') throw new IOException(source + ": not a .npy file");
            int hlen = magic[6] == 1 ? Short.toUnsignedInt(Short.reverseBytes(in.readShort())) : Integer.reverseBytes(in.readInt());
            String header = new String(in.readNBytes(hlen), StandardCharsets.US_ASCII);
            if (!header.contains("'<f4'") || header.contains("'fortran_order': True")) {
                throw new IOException(source + ": emovec reads little-endian float32 C-order arrays only (numpy: a.astype('<f4'))");
            }
            Matcher m = Pattern.compile("'shape': \\((\\d+),\\s*(\\d*)\\)").matcher(header);
            if (!m.find()) throw new IOException(source + ": emovec reads 1-D or 2-D arrays only");
            int rows = m.group(2).isEmpty() ? 1 : Integer.parseInt(m.group(1));
            int cols = m.group(2).isEmpty() ? Integer.parseInt(m.group(1)) : Integer.parseInt(m.group(2));
            float[][] out = new float[rows][cols];
            byte[] buf = new byte[cols * 4];
            for (float[] r : out) {
                in.readFully(buf);
                ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(r);
            }
            return out;
        }
    }
}
