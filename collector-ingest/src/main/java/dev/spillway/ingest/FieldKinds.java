package dev.spillway.ingest;

import dev.spillway.ingest.lineprotocol.FieldType;

/**
 * The {@code kind} column: which line-protocol field type an event's value came from, so a reader can tell an
 * integer {@code 3} from a float {@code 3.0} or a boolean {@code true} (stored as 1).
 */
public final class FieldKinds {

    /** A float field. */
    public static final short FLOAT = 1;
    /** A signed 64-bit integer field ({@code 12i}); exact up to 2^53 as a double. */
    public static final short INTEGER = 2;
    /** An unsigned 64-bit integer field ({@code 12u}); exact up to 2^53 as a double. */
    public static final short UNSIGNED = 3;
    /** A boolean field, stored as 1 or 0. */
    public static final short BOOLEAN = 4;

    private FieldKinds() {
    }

    /** The kind of a numeric or boolean field; -1 for strings, which are not stored. */
    public static short of(FieldType type) {
        return switch (type) {
            case FLOAT -> FLOAT;
            case INTEGER -> INTEGER;
            case UNSIGNED -> UNSIGNED;
            case BOOLEAN -> BOOLEAN;
            case STRING -> -1;
        };
    }
}
