package org.emovec.gguf;

import java.lang.reflect.Array;
import java.util.Arrays;

/**
 * One metadata value. Scalars are boxed Java values (unsigned types widen: UINT32 as Long, UINT64 as Long bits);
 * arrays are primitive Java arrays (String[] for strings) with their element type kept, so a file can be
 * rewritten byte for byte.
 */
public record GgufValue(GgufValueType type, GgufValueType elementType, Object value) {

    public static GgufValue of(String s) { return new GgufValue(GgufValueType.STRING, null, s); }
    public static GgufValue u32(long v) { return new GgufValue(GgufValueType.UINT32, null, v); }
    public static GgufValue f32(float v) { return new GgufValue(GgufValueType.FLOAT32, null, v); }
    public static GgufValue bool(boolean v) { return new GgufValue(GgufValueType.BOOL, null, v); }
    public static GgufValue array(GgufValueType elementType, Object javaArray) {
        return new GgufValue(GgufValueType.ARRAY, elementType, javaArray);
    }

    public String asString() { return (String) value; }

    public long asLong() {
        if (value instanceof Number n && type != GgufValueType.FLOAT32 && type != GgufValueType.FLOAT64) return n.longValue();
        throw new IllegalStateException("not an integer: " + type);
    }

    public double asDouble() {
        if (value instanceof Number n) return n.doubleValue();
        throw new IllegalStateException("not a number: " + type);
    }

    public int arrayLength() { return type == GgufValueType.ARRAY ? Array.getLength(value) : -1; }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufValue v && type == v.type && elementType == v.elementType
                && Arrays.deepEquals(new Object[] {value}, new Object[] {v.value});
    }

    @Override
    public int hashCode() { return Arrays.deepHashCode(new Object[] {type, elementType, value}); }

    @Override
    public String toString() {
        if (type != GgufValueType.ARRAY) return String.valueOf(value);
        return "[" + elementType + " x " + arrayLength() + "]";
    }
}
