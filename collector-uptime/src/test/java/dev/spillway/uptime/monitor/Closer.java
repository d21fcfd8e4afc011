package dev.spillway.uptime.monitor;

import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.util.ArrayList;
import java.util.List;

/**
 * What a probe test opened (servers, probes, executors), closed after each test in reverse order of opening, even
 * when the test failed: {@code @RegisterExtension final Closer closing = new Closer();}, then
 * {@code closing.open(x)}. The first failure to close is thrown once all were tried, the others added to it.
 */
final class Closer implements AfterEachCallback {

    private final List<AutoCloseable> opened = new ArrayList<>();

    /** Registers {@code c} to be closed after the test; returns it. */
    <T extends AutoCloseable> T open(T c) {
        opened.add(c);
        return c;
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        Exception first = null;
        for (int i = opened.size() - 1; i >= 0; i--) {
            try {
                opened.get(i).close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        opened.clear();
        if (first != null) {
            throw first;
        }
    }
}
