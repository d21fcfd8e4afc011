package dev.spillway.collector;

import ch.qos.logback.classic.pattern.MessageConverter;
import ch.qos.logback.classic.spi.ILoggingEvent;

import java.util.Locale;

/**
 * The log's {@code %msg}, with every control character written as an escape ({@code \n}, {@code \u001b}), so one
 * log event is one line whatever user text it carries: a status name or a receiver's answer with a line feed
 * cannot print what looks like a second entry. The call sites escape user text themselves
 * ({@link dev.spillway.runtime.log.LogText}); this is the backstop for any that do not. Stack traces are printed by
 * {@code %ex}, untouched.
 */
public final class OneLineMessageConverter extends MessageConverter {

    @Override
    public String convert(ILoggingEvent event) {
        return oneLine(event.getFormattedMessage());
    }

    static String oneLine(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            final char c = s.charAt(i);
            final boolean control = c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029';
            if (control && c != '\t') {
                if (sb == null) {
                    sb = new StringBuilder(s.length() + 16).append(s, 0, i);
                }
                sb.append(c == '\n' ? "\\n" : c == '\r' ? "\\r" : String.format(Locale.ROOT, "\\u%04x", (int) c));
            } else if (sb != null) {
                sb.append(c);
            }
        }
        return sb == null ? s : sb.toString();
    }
}
