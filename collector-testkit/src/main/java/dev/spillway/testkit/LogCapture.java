package dev.spillway.testkit;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Records what one logger writes, through logback's own {@link ListAppender} attached next to the configured
 * console appender: the lines a user would see, as logback formats their arguments.
 */
public final class LogCapture implements AutoCloseable {

    private final Logger logger;
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    private LogCapture(String loggerName) {
        this.logger = (Logger) LoggerFactory.getLogger(loggerName);
        appender.setName("capture-" + loggerName);
        appender.setContext(logger.getLoggerContext());
        appender.start();
        logger.addAppender(appender);
    }

    /**
     * Configures logging from the collector's own {@code logback.xml} (the levels a user runs with; tests
     * otherwise run with telemetry-core's {@code logback-test.xml}) until closed, then from the test configuration
     * again. Start captures after this: reconfiguring detaches every appender.
     */
    public static AutoCloseable productionConfiguration() throws Exception {
        configure("logback.xml");
        return () -> configure("logback-test.xml");
    }

    private static void configure(String resource) throws Exception {
        final ch.qos.logback.classic.LoggerContext context =
            (ch.qos.logback.classic.LoggerContext) LoggerFactory.getILoggerFactory();
        final java.net.URL url = LogCapture.class.getClassLoader().getResource(resource);
        if (url == null) {
            throw new IllegalStateException(resource + " is not on the test class path");
        }
        final ch.qos.logback.classic.joran.JoranConfigurator configurator =
            new ch.qos.logback.classic.joran.JoranConfigurator();
        configurator.setContext(context);
        context.reset();
        configurator.doConfigure(url);
    }

    /** Starts recording {@code loggerName} (and its children). */
    public static LogCapture of(String loggerName) {
        return new LogCapture(loggerName);
    }

    /** The formatted messages logged so far, oldest first. */
    public List<String> messages() {
        // AppenderBase.doAppend appends under the appender's monitor.
        synchronized (appender) {
            final List<String> out = new ArrayList<>(appender.list.size());
            for (ILoggingEvent e : appender.list) {
                out.add(e.getFormattedMessage());
            }
            return out;
        }
    }

    /** The lines logged with a stack trace so far, as {@code logger: message: exception}. */
    public List<String> withStackTraces() {
        synchronized (appender) {
            final List<String> out = new ArrayList<>();
            for (ILoggingEvent e : appender.list) {
                if (e.getThrowableProxy() != null) {
                    out.add(e.getLoggerName() + ": " + e.getFormattedMessage() + ": " + e.getThrowableProxy().getClassName()
                        + ": " + e.getThrowableProxy().getMessage());
                }
            }
            return out;
        }
    }

    /** The lines so far whose message contains {@code text}. */
    public long count(String text) {
        return messages().stream().filter(m -> m.contains(text)).count();
    }

    /**
     * How many occurrences the lines so far account for: each line stands for itself plus the count in its
     * {@code [N more ...]} bracket; a flush line ({@code N more ... not logged ...} at its start) for its N.
     */
    public long occurrences() {
        long n = 0;
        for (String m : messages()) {
            n += occurrences(m);
        }
        return n;
    }

    private static final Pattern BRACKET = Pattern.compile("\\[(\\d+) more [^\\]]*]$");
    private static final Pattern FLUSH = Pattern.compile("^(\\d+) more .* not logged.*");

    static long occurrences(String message) {
        final Matcher flush = FLUSH.matcher(message);
        if (flush.matches()) {
            return Long.parseLong(flush.group(1));
        }
        final Matcher bracket = BRACKET.matcher(message);
        return 1 + (bracket.find() ? Long.parseLong(bracket.group(1)) : 0);
    }

    @Override
    public void close() {
        logger.detachAppender(appender);
        appender.stop();
    }
}
