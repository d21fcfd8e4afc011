package dev.spillway.uptime.monitor;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A tiny authoritative DNS responder on loopback UDP for tests: answers A, AAAA, MX and TXT questions from a fixed
 * zone (no compression in its answers), NXDOMAIN for other names. Written here rather than using a library so the
 * test owns every byte it serves. Names in {@code truncated} get an empty UDP answer with the TC bit set, and the
 * full answer over TCP on the same port number (one query per connection).
 */
final class LocalDns implements AutoCloseable {

    /** name (lower case, no trailing dot) -> type -> answers as text. */
    private final Map<String, Map<Integer, List<String>>> zone;
    private final Set<String> truncated;
    private final DatagramSocket socket;
    private final ServerSocket tcp;
    private final Thread thread;
    private final Thread tcpThread;
    final AtomicInteger queries = new AtomicInteger();
    final AtomicInteger tcpQueries = new AtomicInteger();

    LocalDns(Map<String, Map<Integer, List<String>>> zone) throws IOException {
        this(zone, Set.of());
    }

    LocalDns(Map<String, Map<Integer, List<String>>> zone, Set<String> truncated) throws IOException {
        this.zone = zone;
        this.truncated = truncated;
        DatagramSocket udp = null;
        ServerSocket stream = null;
        for (int attempt = 0; stream == null; attempt++) { // the same port number free for both
            udp = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            try {
                stream = new ServerSocket(udp.getLocalPort(), 50, InetAddress.getLoopbackAddress());
            } catch (IOException e) {
                udp.close();
                if (attempt == 20) {
                    throw e;
                }
            }
        }
        this.socket = udp;
        this.tcp = stream;
        this.thread = new Thread(this::serve, "local-dns");
        thread.setDaemon(true);
        thread.start();
        this.tcpThread = new Thread(this::serveTcp, "local-dns-tcp");
        tcpThread.setDaemon(true);
        tcpThread.start();
    }

    private void serveTcp() {
        while (!tcp.isClosed()) {
            try (Socket c = tcp.accept()) {
                final DataInputStream in = new DataInputStream(c.getInputStream());
                final byte[] q = new byte[in.readUnsignedShort()];
                in.readFully(q);
                tcpQueries.incrementAndGet();
                final byte[] answer = answer(q, q.length, false);
                final OutputStream out = c.getOutputStream();
                out.write(new byte[] {(byte) (answer.length >> 8), (byte) answer.length});
                out.write(answer);
                out.flush();
            } catch (Exception e) {
                if (!tcp.isClosed()) {
                    throw new IllegalStateException(e);
                }
            }
        }
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
                final byte[] answer = answer(buf, p.getLength(), true);
                socket.send(new DatagramPacket(answer, answer.length, p.getSocketAddress()));
            } catch (Exception e) {
                if (!socket.isClosed()) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    private byte[] answer(byte[] q, int len, boolean udp) throws Exception {
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
        final boolean cut = udp && truncated.contains(name.toString().toLowerCase());
        final List<String> answers = records == null || cut ? List.of() : records.getOrDefault(type, List.of());
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(q[0]);
        out.write(q[1]);
        out.write(cut ? 0x83 : 0x81); // QR, (TC), RD
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
    public void close() throws Exception {
        socket.close();
        tcp.close();
        thread.join(5000);
        tcpThread.join(5000);
    }
}
