package dev.spillway.collector;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.joran.JoranConfigurator;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The jar's own {@code logback.xml} prints one line per event whatever the message holds: a line feed, a carriage
 * return or an escape sequence in user text is printed as an escape, so it cannot start what looks like a second
 * entry. (Call sites escape user text themselves; this is the backstop.)
 */
class OneLineLogTest {

    @Test
    void theProductionPatternPrintsEveryEventOnOneLine() throws Exception {
        final LoggerContext context = new LoggerContext();
        final JoranConfigurator configurator = new JoranConfigurator();
        configurator.setContext(context);
        configurator.doConfigure(Collector.class.getClassLoader().getResource("logback.xml"));
        @SuppressWarnings("unchecked")
        final ConsoleAppender<ch.qos.logback.classic.spi.ILoggingEvent> stdout =
            (ConsoleAppender<ch.qos.logback.classic.spi.ILoggingEvent>) context.getLogger("ROOT").getAppender("STDOUT");
        final PatternLayoutEncoder encoder = (PatternLayoutEncoder) stdout.getEncoder();
        final LoggingEvent event = new LoggingEvent("x", context.getLogger("dev.spillway.alerting.OutboxRelay"), Level.INFO,
            "notification {}: {}", null, new Object[] {7, "Service s status is bad\n2026-01-01T00:00:00Z ERROR [main] "
            + "Collector - forged\r\u001b[31m"});
        final String line = new String(encoder.encode(event), StandardCharsets.UTF_8);
        assertEquals(1, line.split("\n", -1).length - 1, "one line: " + line);
        assertTrue(line.endsWith("Service s status is bad\\n2026-01-01T00:00:00Z ERROR [main] Collector - forged\\r"
            + "\\u001b[31m" + System.lineSeparator()), line);
        context.stop();
    }
}
