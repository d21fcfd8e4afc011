package dev.spillway.uptime.monitor;

import okhttp3.Dns;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * Name resolution for probes: the addresses the {@link AddressPolicy} denies are dropped from every answer, and an
 * answer with nothing left fails with the reason. Runs at every connect (OkHttp resolves per route, and the probe
 * opens a fresh connection per check by default), so a name that later resolves elsewhere (DNS rebinding) is
 * checked again.
 */
final class PolicyDns implements Dns {

    private final Dns delegate;
    private final AddressPolicy policy;

    PolicyDns(Dns delegate, AddressPolicy policy) {
        this.delegate = delegate;
        this.policy = policy;
    }

    @Override
    public List<InetAddress> lookup(String hostname) throws UnknownHostException {
        final List<InetAddress> all = delegate.lookup(hostname);
        final List<InetAddress> allowed = new ArrayList<>(all.size());
        AddressPolicy.Denial first = null;
        for (InetAddress a : all) {
            final AddressPolicy.Denial d = policy.check(a);
            if (d == null) {
                allowed.add(a);
            } else if (first == null) {
                first = d;
            }
        }
        if (allowed.isEmpty() && first != null) {
            throw new AddressDeniedException(first.spelled(hostname));
        }
        return allowed;
    }
}
