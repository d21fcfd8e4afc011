package dev.spillway.telemetry.internal;

/** An append the spool could not take: the spool is full (under the refuse policy), or the disk failed. */
final class SpoolException extends Exception {

    private static final long serialVersionUID = 1L;

    /** Whether the append was refused because the spool is full (false: an I/O error). */
    private final boolean full;

    SpoolException(String message, boolean full, Throwable cause) {
        super(message, cause);
        this.full = full;
    }

    /** Whether the spool was full (false: a disk error such as ENOSPC or a read-only filesystem). */
    public boolean isFull() {
        return full;
    }
}
