package dev.spillway.uptime.monitor;

import java.io.ByteArrayOutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tiny authoritative DNS responder on loopback UDP for tests: answers A, AAAA, MX and TXT questions from a fixed
 * zone (no compression in its answers), NXDOMAIN for other names. Written here rather than using a library so the
 * test owns every byte it serves.
 */
final class LocalDns implements AutoCloseable {

    /** name (lower case, no trailing dot) -> type -> answers as text. */
    private final Map<String, Map<Integer, List<String>>> zone;
    private final DatagramSocket socket;
    private final Thread thread;
    final AtomicInteger queries = new AtomicInteger();

    LocalDns(Map<String, Map<Integer, List<String>>> zone) throws SocketException {
        this.zone = zone;
        this.socket = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        this.thread = new Thread(this::serve, "local-dns");
        thread.setDaemon(true);
        thread.start();
    }

    int port() {
        return socket.getLocalPort();
    }

    private void serve() {
        final byte[] buf = new byte[512];
        while (!socket.isClosed()) {
            try {
                final DatagramPacket p = new DatagramPacket(buf, buf.length);
                socket.receive(p);
                queries.incrementAndGet();
                final byte[] answer = answer(buf, p.getLength());
                socket.send(new DatagramPacket(answer, answer.length, p.getSocketAddress()));
            } catch (Exception e) {
                if (!socket.isClosed()) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    private byte[] answer(byte[] q, int len) throws Exception {
        // question: name labels from offset 12, then type and class
        int p = 12;
        final StringBuilder name = new StringBuilder();
        while (q[p] != 0) {
            final int n = q[p];
            name.append(name.length() == 0 ? "" : ".").append(new String(q, p + 1, n, StandardCharsets.US_ASCII));
            p += n + 1;
        }
        final int qEnd = p + 5;
        final int type = (q[p + 1] & 0xff) << 8 | (q[p + 2] & 0xff);
        final Map<Integer, List<String>> records = zone.get(name.toString().toLowerCase());
        final List<String> answers = records == null ? List.of() : records.getOrDefault(type, List.of());
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(q[0]);
        out.write(q[1]);
        out.write(0x81); // QR, RD
        out.write(records == null ? 0x83 : 0x80); // RA, rcode NXDOMAIN or NOERROR
        out.write(new byte[] {0, 1, 0, (byte) answers.size(), 0, 0, 0, 0});
        out.write(q, 12, qEnd - 12);
        for (String a : answers) {
            DnsProbe.writeName(out, name.toString());
            out.write(new byte[] {(byte) (type >> 8), (byte) type, 0, 1, 0, 0, 0, 60});
            final ByteArrayOutputStream rd = new ByteArrayOutputStream();
            switch (type) {
                case 1, 28 -> rd.write(InetAddress.getByName(a).getAddress());
                case 15 -> {
                    final String[] parts = a.split(" ");
                    final int pref = Integer.parseInt(parts[0]);
                    rd.write(pref >> 8);
                    rd.write(pref);
                    DnsProbe.writeName(rd, parts[1]);
                }
                case 16 -> {
                    final byte[] t = a.getBytes(StandardCharsets.UTF_8);
                    rd.write(t.length);
                    rd.write(t);
                }
                default -> DnsProbe.writeName(rd, a);
            }
            out.write(rd.size() >> 8);
            out.write(rd.size());
            out.write(rd.toByteArray());
        }
        return out.toByteArray();
    }

    @Override
    public void close() throws InterruptedException {
        socket.close();
        thread.join(5000);
    }
}
