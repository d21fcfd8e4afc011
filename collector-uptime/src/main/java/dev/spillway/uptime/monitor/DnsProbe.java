package dev.spillway.uptime.monitor;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A {@code dns://resolver[:port]} check: one query ({@code dns.query_name}, {@code dns.record_type}, class IN,
 * recursion desired) over UDP to the resolver the URL names, again over TCP when the answer is truncated. Up when
 * the answer is NOERROR with at least one record of the type and, with {@code dns.expected}, every expected answer
 * among them. Answers are compared as text: addresses as Java prints them ({@code 192.0.2.1},
 * {@code 2001:db8:0:0:0:0:0:1} or {@code 2001:db8::1}, both accepted), names without the trailing dot and
 * case-insensitively, MX as {@code "10 mx.example.org"}, TXT as the strings joined. The resolver's address obeys the
 * address policy like any other target.
 *
 * <p>A small client of RFC 1035's wire format rather than a library: one question, answers read with name
 * compression; nothing is cached.
 */
final class DnsProbe {

    private static final Map<String, Integer> TYPES = Map.of("A", 1, "NS", 2, "CNAME", 5, "SOA", 6, "MX", 15,
        "TXT", 16, "AAAA", 28);
    private static final String[] RCODES = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};

    private final AddressPolicy policy;

    DnsProbe(AddressPolicy policy) {
        this.policy = policy;
    }

    CheckResult check(MonitorSpec spec) {
        final Instant startedAt = Probes.now();
        final long start = System.nanoTime();
        final long deadline = start + spec.timeout().toNanos();
        final CheckOptions o = spec.check();
        String error = null;
        int rcode = -1;
        int count = -1;
        try {
            final ProbeAddress.Resolved r = ProbeAddress.resolve(spec.url().getHost(), policy);
            final int port = spec.url().getPort() > 0 ? spec.url().getPort() : 53;
            final int type = TYPES.get(o.dnsRecordType());
            final int id = ThreadLocalRandom.current().nextInt(1 << 16);
            final byte[] query = query(id, o.dnsQueryName(), type);
            Answer a = udp(r.address(), port, query, id, deadline);
            if (a.truncated) {
                a = tcp(r.address(), port, query, id, deadline);
            }
            rcode = a.rcode;
            final List<String> got = a.records(type);
            count = got.size();
            if (a.rcode != 0) {
                error = "dns: " + (a.rcode < RCODES.length ? RCODES[a.rcode] : "rcode " + a.rcode) + " for "
                    + o.dnsQueryName() + " " + o.dnsRecordType();
            } else if (got.isEmpty()) {
                error = "dns: no " + o.dnsRecordType() + " record for " + o.dnsQueryName();
            } else {
                for (String want : o.dnsExpected()) {
                    if (!contains(got, want)) {
                        error = "dns: expected " + o.dnsRecordType() + " '" + want + "' not in the answer " + got;
                        break;
                    }
                }
            }
        } catch (IOException e) {
            error = Probes.classify(e, spec);
        } catch (IllegalStateException e) {
            error = "dns: malformed answer: " + e.getMessage();
        }
        final Map<String, Double> extra = new LinkedHashMap<>();
        if (count >= 0) {
            extra.put("answers", (double) count);
        }
        if (rcode >= 0) {
            extra.put("rcode", (double) rcode);
        }
        return new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6, Double.NaN,
            Double.NaN, Double.NaN, Double.NaN, Double.NaN, error, false, extra);
    }

    private static boolean contains(List<String> got, String want) {
        final String w = normal(want);
        for (String g : got) {
            if (normal(g).equals(w)) {
                return true;
            }
        }
        return false;
    }

    private static String normal(String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        if (t.endsWith(".")) {
            t = t.substring(0, t.length() - 1);
        }
        if (t.indexOf(':') >= 0 && !t.contains(" ")) {
            try {
                return InetAddress.getByName("[" + t + "]").getHostAddress(); // one spelling of an IPv6 address
            } catch (IOException e) {
                return t;
            }
        }
        return t;
    }

    /** The query message: header (RD set), one question. */
    static byte[] query(int id, String name, int type) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream(64);
        out.write(id >> 8);
        out.write(id);
        out.write(0x01); // RD
        out.write(0x00);
        out.write(0);
        out.write(1); // QDCOUNT
        for (int i = 0; i < 6; i++) {
            out.write(0); // ANCOUNT, NSCOUNT, ARCOUNT
        }
        writeName(out, name);
        out.write(type >> 8);
        out.write(type);
        out.write(0);
        out.write(1); // IN
        return out.toByteArray();
    }

    static void writeName(ByteArrayOutputStream out, String name) {
        for (String label : name.split("\\.")) {
            if (label.isEmpty()) {
                continue;
            }
            final byte[] b = label.getBytes(StandardCharsets.US_ASCII);
            out.write(b.length);
            out.write(b, 0, b.length);
        }
        out.write(0);
    }

    private static Answer udp(InetAddress to, int port, byte[] query, int id, long deadline) throws IOException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.connect(to, port);
            s.send(new DatagramPacket(query, query.length));
            final byte[] buf = new byte[4096];
            while (true) {
                s.setSoTimeout(Probes.remainingMs(deadline));
                final DatagramPacket p = new DatagramPacket(buf, buf.length);
                s.receive(p);
                if (p.getLength() >= 12 && ((buf[0] & 0xff) << 8 | (buf[1] & 0xff)) == id) {
                    return Answer.parse(java.util.Arrays.copyOf(buf, p.getLength()));
                }
                // a stray or late datagram for another query: keep waiting for ours
            }
        }
    }

    private static Answer tcp(InetAddress to, int port, byte[] query, int id, long deadline) throws IOException {
        try (Socket s = new Socket(java.net.Proxy.NO_PROXY)) {
            s.connect(new InetSocketAddress(to, port), Probes.remainingMs(deadline));
            s.setSoTimeout(Probes.remainingMs(deadline));
            final OutputStream out = s.getOutputStream();
            out.write(new byte[] {(byte) (query.length >> 8), (byte) query.length});
            out.write(query);
            out.flush();
            final DataInputStream in = new DataInputStream(s.getInputStream());
            final byte[] msg = new byte[in.readUnsignedShort()];
            in.readFully(msg);
            final Answer a = Answer.parse(msg);
            if (a.id != id) {
                throw new IllegalStateException("answer id " + a.id + " differs from the query's " + id);
            }
            return a;
        }
    }

    /** A parsed answer: header fields and the answer section's records as (type, text). */
    private static final class Answer {
        int id;
        int rcode;
        boolean truncated;
        final List<Map.Entry<Integer, String>> records = new ArrayList<>();

        List<String> records(int type) {
            final List<String> out = new ArrayList<>();
            for (Map.Entry<Integer, String> e : records) {
                if (e.getKey() == type) {
                    out.add(e.getValue());
                }
            }
            return out;
        }

        static Answer parse(byte[] m) {
            final Answer a = new Answer();
            if (m.length < 12) {
                throw new IllegalStateException("shorter than a header");
            }
            a.id = u16(m, 0);
            a.truncated = (m[2] & 0x02) != 0;
            a.rcode = m[3] & 0x0f;
            final int qd = u16(m, 4);
            final int an = u16(m, 6);
            final int[] pos = {12};
            for (int i = 0; i < qd; i++) {
                readName(m, pos);
                pos[0] += 4;
            }
            for (int i = 0; i < an; i++) {
                readName(m, pos);
                need(m, pos[0] + 10);
                final int type = u16(m, pos[0]);
                final int len = u16(m, pos[0] + 8);
                final int rd = pos[0] + 10;
                need(m, rd + len);
                a.records.add(Map.entry(type, rdata(m, type, rd, len)));
                pos[0] = rd + len;
            }
            return a;
        }

        private static String rdata(byte[] m, int type, int at, int len) {
            try {
                return switch (type) {
                    case 1, 28 -> InetAddress.getByAddress(java.util.Arrays.copyOfRange(m, at, at + len))
                        .getHostAddress();
                    case 2, 5 -> readName(m, new int[] {at});
                    case 15 -> u16(m, at) + " " + readName(m, new int[] {at + 2});
                    case 16 -> {
                        final StringBuilder sb = new StringBuilder();
                        for (int p = at; p < at + len; ) {
                            final int n = m[p] & 0xff;
                            sb.append(new String(m, p + 1, Math.min(n, at + len - p - 1), StandardCharsets.UTF_8));
                            p += n + 1;
                        }
                        yield sb.toString();
                    }
                    case 6 -> {
                        final int[] p = {at};
                        yield readName(m, p) + " " + readName(m, p);
                    }
                    default -> "";
                };
            } catch (java.net.UnknownHostException e) {
                throw new IllegalStateException("address of " + len + " bytes");
            }
        }

        private static String readName(byte[] m, int[] pos) {
            final StringBuilder sb = new StringBuilder();
            int p = pos[0];
            boolean jumped = false;
            for (int hops = 0; ; hops++) {
                need(m, p + 1);
                final int n = m[p] & 0xff;
                if (n == 0) {
                    p++;
                    break;
                }
                if ((n & 0xc0) == 0xc0) {
                    need(m, p + 2);
                    if (hops > 64) {
                        throw new IllegalStateException("compression loop");
                    }
                    if (!jumped) {
                        pos[0] = p + 2;
                    }
                    jumped = true;
                    p = ((n & 0x3f) << 8) | (m[p + 1] & 0xff);
                    continue;
                }
                need(m, p + 1 + n);
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(new String(m, p + 1, n, StandardCharsets.US_ASCII));
                p += n + 1;
            }
            if (!jumped) {
                pos[0] = p;
            }
            return sb.toString();
        }

        private static int u16(byte[] m, int at) {
            need(m, at + 2);
            return (m[at] & 0xff) << 8 | (m[at + 1] & 0xff);
        }

        private static void need(byte[] m, int end) {
            if (end > m.length) {
                throw new IllegalStateException("record runs past the end of the message");
            }
        }
    }
}
