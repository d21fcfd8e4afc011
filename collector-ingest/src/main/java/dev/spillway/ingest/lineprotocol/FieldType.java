package dev.spillway.ingest.lineprotocol;

/** The type of a line-protocol field value, as decided by its syntax. */
public enum FieldType {
    /** {@code 1}, {@code 1.5}, {@code -1e3}: the default when no suffix is given. */
    FLOAT,
    /** {@code 12i}: signed 64-bit. */
    INTEGER,
    /** {@code 12u}: unsigned 64-bit. */
    UNSIGNED,
    /** {@code t}, {@code true}, {@code F}, {@code false} and friends. */
    BOOLEAN,
    /** {@code "..."}. */
    STRING
}
