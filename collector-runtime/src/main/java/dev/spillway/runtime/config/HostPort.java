package dev.spillway.runtime.config;

import java.net.BindException;
import java.net.InetSocketAddress;

/**
 * A listen address given as {@code HOST:PORT}, {@code [IPv6]:PORT} or {@code :PORT} (all interfaces).
 * Port 0 asks the OS for a free port, which the collector prints once bound.
 *
 * @param host the host or address literal to bind; {@code 0.0.0.0} when the spelling had none
 * @param port 0 to 65535
 */
public record HostPort(String host, int port) {

    /**
     * Parses a listen address.
     *
     * @throws IllegalArgumentException with a message saying what form is expected
     */
    public static HostPort parse(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("expected HOST:PORT, was empty");
        }
        final String s = spec.trim();
        final int colon = s.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("expected HOST:PORT (e.g. 127.0.0.1:8086), was '" + spec + "'");
        }
        String host = s.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        } else if (host.indexOf(':') >= 0) {
            throw new IllegalArgumentException("IPv6 addresses need brackets, e.g. [::1]:8086, was '" + spec + "'");
        }
        final int port;
        try {
            port = Integer.parseInt(s.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("port must be a number 0-65535, was '" + spec + "'");
        }
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port must be 0-65535, was " + port);
        }
        return new HostPort(host.isEmpty() ? "0.0.0.0" : host, port);
    }

    /** An unresolved socket address for Netty to bind. */
    public InetSocketAddress toSocketAddress() {
        return new InetSocketAddress(host, port);
    }

    @Override
    public String toString() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }
}
