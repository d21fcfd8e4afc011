package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.runtime.config.ConfigException;
import dev.spillway.collector.db.DataDirectoryLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code java -jar spillway-collector.jar}: parses the configuration, starts the {@link Collector}, and on
 * SIGTERM or SIGINT shuts it down gracefully and prints the final account. A second signal during the drain
 * exits at once.
 *
 * <p>Exit codes: 0 after a clean shutdown, 1 when startup fails or the final account does not balance, 2 for
 * an invalid configuration (found before anything starts, a bad {@code --monitors} file included), 130 when a
 * second signal cut the drain short. A failure prints one line on stderr; the stack trace, if any, goes to the
 * log at debug level.
 */
public final class CollectorMain {

    private static final Logger LOG = LoggerFactory.getLogger(CollectorMain.class);

    private CollectorMain() {
    }

    /** Entry point. */
    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("agent")) {
            // A different program in the same jar: watches one thing and reports it to a heartbeat service.
            System.exit(Agent.run(java.util.Arrays.copyOfRange(args, 1, args.length), System.getenv(), System.out,
                System.err));
            return;
        }
        final CollectorOptions.Parsed parsed;
        try {
            parsed = CollectorOptions.parse(args, System.getenv(), System.out);
        } catch (ConfigException e) {
            System.err.println("spillway-collector: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (!(parsed instanceof CollectorOptions.Run run)) {
            System.exit(0);
            return;
        }
        // Installed before startup so a signal that arrives while starting still gets the graceful path.
        final CountDownLatch stop = new CountDownLatch(1);
        final AtomicInteger signals = new AtomicInteger();
        final boolean handled = installSignals(stop, signals);
        final Collector collector;
        try {
            collector = Collector.start(run.config());
        } catch (ConfigException e) {
            // Found only once running (parse reads every file it can): still the operator's configuration.
            LOG.debug("invalid configuration", e);
            System.err.println("spillway-collector: " + e.getMessage());
            System.exit(2);
            return;
        } catch (DataDirectoryLock.InUseException | java.net.BindException e) {
            // Expected operator mistakes: one line saying what and which option, no stack trace.
            LOG.debug("startup failed", e);
            System.err.println("spillway-collector: " + e.getMessage());
            System.exit(1);
            return;
        } catch (Exception e) {
            // One sentence and the cause for the operator; the stack trace is for SPILLWAY_LOG_LEVEL=DEBUG.
            LOG.debug("startup failed", e);
            System.err.println("spillway-collector: " + StartupFailure.describe(e, run.config()));
            System.exit(1);
            return;
        }
        if (!handled) {
            // Signals are not ours to handle (e.g. -Xrs): fall back to a plain hook, one shot.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> LOG.info("{}", collector.shutdown()), "shutdown"));
        }
        try {
            stop.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.info("stopping: no new connections; draining buffered events (signal again to exit at once)");
        final FinalAccount account = collector.shutdown();
        LOG.info("{}", account);
        System.exit(account == null || account.stats().isBalanced() ? 0 : 1);
    }

    /**
     * Replaces the JVM's default SIGTERM/SIGINT behaviour (run shutdown hooks, then exit) with: first signal
     * starts the graceful shutdown on the main thread, second signal halts. The default cannot do the second
     * part, because during shutdown the JVM ignores further signals.
     */
    private static boolean installSignals(CountDownLatch stop, AtomicInteger signals) {
        try {
            for (String name : new String[] {"TERM", "INT"}) {
                Signal.handle(new Signal(name), sig -> {
                    if (signals.incrementAndGet() == 1) {
                        LOG.info("received SIG{}", sig.getName());
                        stop.countDown();
                    } else {
                        System.err.println("spillway-collector: second signal, exiting without draining");
                        Runtime.getRuntime().halt(130);
                    }
                });
            }
            return true;
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            return false;
        }
    }
}
