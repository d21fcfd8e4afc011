package dev.spillway.ingest.series;

import java.util.UUID;
import java.util.regex.Pattern;

/**
 * How a writer tells a NATS-only edge's batches apart: their run id (the first half of every JetStream message id
 * and of the ledger key) is {@code edge.<instance>.<run>}, where the instance is the edge's series store's id. The
 * source ids in such a batch are that instance's local ids. A spooled batch keeps its run id, so a batch replayed
 * after a restart still names its edge.
 */
public final class EdgeOrigin {

    private static final String PREFIX = "edge.";
    private static final Pattern INSTANCE = Pattern.compile("[A-Za-z0-9-]{1,64}");

    private EdgeOrigin() {
    }

    /** A fresh run id for a run of the edge whose series store is {@code instance}. */
    public static String runId(String instance) {
        if (!INSTANCE.matcher(instance).matches()) {
            throw new IllegalArgumentException("edge instance must be 1-64 of [A-Za-z0-9-], was " + instance);
        }
        return PREFIX + instance + "." + UUID.randomUUID().toString().replace("-", "");
    }

    /** The edge instance that made a batch of this run id, or null when it is not a NATS-only edge's. */
    public static String of(String runId) {
        if (runId == null || !runId.startsWith(PREFIX)) {
            return null;
        }
        final int dot = runId.indexOf('.', PREFIX.length());
        if (dot < 0) {
            return null;
        }
        final String instance = runId.substring(PREFIX.length(), dot);
        return INSTANCE.matcher(instance).matches() ? instance : null;
    }
}
