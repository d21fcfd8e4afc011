package dev.spillway.uptime.monitor;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/**
 * Resolves the host of a tcp, dns, tls or icmp monitor to the first address the {@link AddressPolicy} allows, at
 * every check (like {@link PolicyDns} for HTTP), and times the lookup (0 for an IP literal).
 */
final class ProbeAddress {

    /** The address and the lookup time in ms. */
    record Resolved(InetAddress address, double dnsMs) {
    }

    private ProbeAddress() {
    }

    /**
     * @throws AddressDeniedException when every address is denied
     * @throws UnknownHostException when the name does not resolve
     */
    static Resolved resolve(String host, AddressPolicy policy) throws UnknownHostException {
        return resolve(host, policy, okhttp3.Dns.SYSTEM);
    }

    /**
     * With a resolver of the caller's (the system's, or a test's).
     *
     * @throws AddressDeniedException when every address is denied
     * @throws UnknownHostException when the name does not resolve
     */
    static Resolved resolve(String host, AddressPolicy policy, okhttp3.Dns dns) throws UnknownHostException {
        final String bare = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
        final List<InetAddress> literal = AddressPolicy.literals(bare);
        if (!literal.isEmpty()) {
            // Every reading of an ambiguous spelling must be allowed (as at the API).
            for (InetAddress a : literal) {
                final AddressPolicy.Denial d = policy.check(a);
                if (d != null) {
                    throw new AddressDeniedException(d.spelled(host));
                }
            }
            return new Resolved(literal.get(0), 0);
        }
        final long t0 = System.nanoTime();
        final List<InetAddress> all = dns.lookup(bare);
        final double ms = (System.nanoTime() - t0) / 1e6;
        AddressPolicy.Denial first = null;
        for (InetAddress a : all) {
            final AddressPolicy.Denial d = policy.check(a);
            if (d == null) {
                return new Resolved(a, ms);
            }
            if (first == null) {
                first = d;
            }
        }
        if (first == null) {
            throw new UnknownHostException(host);
        }
        throw new AddressDeniedException(first.spelled(host));
    }
}
