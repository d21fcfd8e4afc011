package dev.spillway.runtime.lifecycle;

/**
 * A long-running part of the collector (a listener, a scheduler, a relay, the pipeline, a database pool). It is
 * started by whoever builds it, before it is handed to a {@link ServiceStack}; the stack stops services in reverse
 * order, each with a {@link Deadline}.
 *
 * <p>Contract for {@link #stop}: idempotent; returns by the deadline (the stack does not wait longer and moves on,
 * so overrunning only delays the log line, never the shutdown); lets work already accepted finish where it can
 * within the deadline, and says so by returning false when it could not; throws only for a failure worth one
 * warning (the stack logs it with the service's name and goes on).
 */
public interface Service {

    /** Short name for logs, e.g. {@code "monitors"} or {@code "http"}. */
    String name();

    /**
     * Stops, waiting at most until {@code deadline}.
     *
     * @return whether everything ended in time
     */
    boolean stop(Deadline deadline) throws Exception;

    /** The action to run at stop, as a lambda. */
    @FunctionalInterface
    interface StopAction {
        /** @return whether everything ended in time */
        boolean stop(Deadline deadline) throws Exception;
    }

    /** A service made of a name and a stop action (for resources that are not classes of ours: pools, groups). */
    static Service of(String name, StopAction action) {
        return new Service() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public boolean stop(Deadline deadline) throws Exception {
                return action.stop(deadline);
            }
        };
    }

    /** A service whose stop is a plain {@link AutoCloseable#close()} that does not wait. */
    static Service closing(String name, AutoCloseable resource) {
        return of(name, d -> {
            resource.close();
            return true;
        });
    }
}
