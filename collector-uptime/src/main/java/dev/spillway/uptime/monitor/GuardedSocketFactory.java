package dev.spillway.uptime.monitor;

import javax.net.SocketFactory;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.util.concurrent.atomic.LongAdder;

/**
 * The probe's sockets: every {@code connect} is checked against the {@link AddressPolicy} on the address it is
 * about to connect to (whatever the host's spelling, whichever code path resolved it), and refused before any packet
 * is sent; every byte read from them is counted. TLS sockets are layered over these, so both hold for https too.
 */
final class GuardedSocketFactory extends SocketFactory {

    private final AddressPolicy policy;
    private final LongAdder received;

    GuardedSocketFactory(AddressPolicy policy, LongAdder received) {
        this.policy = policy;
        this.received = received;
    }

    @Override
    public Socket createSocket() {
        return new GuardedSocket();
    }

    @Override
    public Socket createSocket(String host, int port) throws IOException {
        final Socket s = createSocket();
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(String host, int port, InetAddress localHost, int localPort) throws IOException {
        final Socket s = createSocket();
        s.bind(new InetSocketAddress(localHost, localPort));
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(InetAddress host, int port) throws IOException {
        final Socket s = createSocket();
        s.connect(new InetSocketAddress(host, port));
        return s;
    }

    @Override
    public Socket createSocket(InetAddress address, int port, InetAddress localAddress, int localPort)
        throws IOException {
        final Socket s = createSocket();
        s.bind(new InetSocketAddress(localAddress, localPort));
        s.connect(new InetSocketAddress(address, port));
        return s;
    }

    private final class GuardedSocket extends Socket {

        @Override
        public void connect(SocketAddress endpoint, int timeout) throws IOException {
            if (endpoint instanceof InetSocketAddress isa) {
                final InetAddress a = isa.getAddress();
                if (a == null) {
                    throw new UnknownHostException(isa.getHostString() + ": not resolved");
                }
                final AddressPolicy.Denial d = policy.check(a);
                if (d != null) {
                    throw new AddressDeniedException(d);
                }
            }
            super.connect(endpoint, timeout);
        }

        @Override
        public InputStream getInputStream() throws IOException {
            return new FilterInputStream(super.getInputStream()) {
                @Override
                public int read() throws IOException {
                    final int b = super.read();
                    if (b >= 0) {
                        received.increment();
                    }
                    return b;
                }

                @Override
                public int read(byte[] buf, int off, int len) throws IOException {
                    final int n = super.read(buf, off, len);
                    if (n > 0) {
                        received.add(n);
                    }
                    return n;
                }
            };
        }
    }
}
