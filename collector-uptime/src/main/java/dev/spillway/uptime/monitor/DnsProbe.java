package dev.spillway.uptime.monitor;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.LongAdder;

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
 *
 * <p>Non-blocking, like {@link TcpProbe}: {@link #start} returns at once (a resolver given by name is looked up on
 * the {@link ProbeResolver}'s pool until the check's deadline), the address is checked against the policy; the datagram, the answer and a TCP
 * retry run on the probe's one selector thread ({@code probe-dns}), which ends every check at its deadline. So a
 * resolver that never answers holds a socket, not a thread.
 */
final class DnsProbe implements AutoCloseable {

    private static final Map<String, Integer> TYPES = Map.of("A", 1, "NS", 2, "CNAME", 5, "SOA", 6, "MX", 15,
        "TXT", 16, "AAAA", 28);
    private static final String[] RCODES = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
    /** Largest DNS message (a TCP answer's length is 16 bits; a UDP one is read into a buffer this size). */
    private static final int MAX_MESSAGE = 65_535;

    private final AddressPolicy policy;
    private final ProbeResolver resolver;
    private final LongAdder denied;
    private final SelectorLoop loop = new SelectorLoop("probe-dns");
    /** The selector thread's datagram buffer (each query keeps only its answer). */
    private final ByteBuffer scratch = ByteBuffer.allocate(MAX_MESSAGE);

    /** @param denied counts checks the address policy refused */
    DnsProbe(AddressPolicy policy, ProbeResolver resolver, LongAdder denied) {
        this.denied = denied;
        this.policy = policy;
        this.resolver = resolver;
    }

    /** Runs one check and waits for its result (for callers with a thread to spare, e.g. a test). */
    CheckResult check(MonitorSpec spec) {
        return start(spec).join();
    }

    /**
     * Starts one check without blocking (a resolver given by name is looked up on the {@link ProbeResolver}'s pool);
     * never throws. The future completes with the result by the check's deadline (never exceptionally, unless
     * completed from outside; completing it closes the check's sockets).
     */
    CompletableFuture<CheckResult> start(MonitorSpec spec) {
        final Query q = new Query(spec);
        resolver.resolve(spec.url().getHost(), policy, q.deadline).whenComplete((r, e) -> {
            if (e != null) {
                q.fail(Probes.classify(ProbeResolver.cause(e), spec));
            } else {
                send(q, r);
            }
        });
        return q.future;
    }

    /** Opens the query's socket to the resolved address (policy checked first) and hands it to the loop. */
    private void send(Query q, ProbeAddress.Resolved r) {
        if (q.future.isDone()) {
            return; // cancelled meanwhile
        }
        try {
            q.to = new InetSocketAddress(r.address(), q.spec.url().getPort() > 0 ? q.spec.url().getPort() : 53);
            guard(q.to);
            final DatagramChannel ch = DatagramChannel.open();
            q.udp = ch;
            q.closeWhenDone(ch);
            ch.configureBlocking(false);
            ch.connect(q.to); // answers from elsewhere are dropped by the kernel
        } catch (IOException e) {
            q.fail(Probes.classify(e, q.spec));
            return;
        }
        if (!loop.hand(q)) {
            q.fail("io: probe closed");
        }
    }

    /** The address policy on the address about to be sent to (as {@link GuardedSocketFactory} does for sockets). */
    private void guard(InetSocketAddress to) throws AddressDeniedException {
        final AddressPolicy.Denial d = policy.check(to.getAddress());
        if (d != null) {
            throw new AddressDeniedException(d);
        }
    }

    /** The result of an answer: NOERROR with a record of the type and every expected one. */
    private static String judge(Answer a, int type, CheckOptions o) {
        final List<String> got = a.records(type);
        if (a.rcode != 0) {
            return "dns: " + (a.rcode < RCODES.length ? RCODES[a.rcode] : "rcode " + a.rcode) + " for "
                + o.dnsQueryName() + " " + o.dnsRecordType();
        }
        if (got.isEmpty()) {
            return "dns: no " + o.dnsRecordType() + " record for " + o.dnsQueryName();
        }
        for (String want : o.dnsExpected()) {
            if (!contains(got, want)) {
                return "dns: expected " + o.dnsRecordType() + " '" + want + "' not in the answer " + got;
            }
        }
        return null;
    }

    /**
     * One query on the selector thread: the UDP datagram is sent when its socket is writable, the answer with the
     * query's id is taken (others are ignored), and a truncated one is asked again over TCP (connect, the
     * length-prefixed query, the length-prefixed answer).
     */
    private final class Query extends SelectorLoop.Job {
        final int type;
        final int id = ThreadLocalRandom.current().nextInt(1 << 16);
        final byte[] query;
        InetSocketAddress to;
        DatagramChannel udp;
        SocketChannel tcp;
        ByteBuffer tcpOut;
        /** The TCP answer's length prefix, then the answer. */
        ByteBuffer tcpLength;
        ByteBuffer tcpAnswer;

        Query(MonitorSpec spec) {
            super(spec, denied);
            this.type = TYPES.get(spec.check().dnsRecordType());
            this.query = query(id, spec.check().dnsQueryName(), type);
        }

        @Override
        void register(Selector sel) throws IOException {
            udp.register(sel, SelectionKey.OP_WRITE, this);
        }

        @Override
        void ready(SelectionKey k) throws IOException {
            if (k.channel() == udp) {
                if (k.isWritable()) {
                    if (udp.write(ByteBuffer.wrap(query)) > 0) {
                        k.interestOps(SelectionKey.OP_READ);
                    } // else no room in the socket's buffer: writable again later
                } else if (k.isReadable()) {
                    readUdp(k);
                }
                return;
            }
            if (k.isConnectable()) {
                if (tcp.finishConnect()) {
                    k.interestOps(SelectionKey.OP_WRITE);
                }
            } else if (k.isWritable()) {
                tcp.write(tcpOut);
                if (!tcpOut.hasRemaining()) {
                    tcpLength = ByteBuffer.allocate(2);
                    k.interestOps(SelectionKey.OP_READ);
                }
            } else if (k.isReadable()) {
                readTcp();
            }
        }

        private void readUdp(SelectionKey k) throws IOException {
            while (!future.isDone()) {
                scratch.clear();
                final int n = udp.read(scratch);
                if (n <= 0) {
                    return;
                }
                if (n >= 12 && ((scratch.get(0) & 0xff) << 8 | (scratch.get(1) & 0xff)) == id) {
                    final byte[] m = new byte[n];
                    scratch.flip().get(m);
                    final Answer a;
                    try {
                        a = Answer.parse(m);
                    } catch (IllegalStateException e) {
                        fail("dns: malformed answer: " + e.getMessage());
                        return;
                    }
                    if (a.truncated) {
                        k.cancel();
                        overTcp(k.selector());
                    } else {
                        answered(a);
                    }
                    return;
                }
                // a stray or late datagram for another query: keep waiting for ours
            }
        }

        private void overTcp(Selector sel) throws IOException {
            guard(to);
            final SocketChannel ch = SocketChannel.open();
            tcp = ch;
            closeWhenDone(ch);
            ch.configureBlocking(false);
            tcpOut = ByteBuffer.allocate(2 + query.length);
            tcpOut.put((byte) (query.length >> 8)).put((byte) query.length).put(query).flip();
            final boolean connected = ch.connect(to);
            ch.register(sel, connected ? SelectionKey.OP_WRITE : SelectionKey.OP_CONNECT, this);
        }

        private void readTcp() throws IOException {
            final ByteBuffer into = tcpAnswer == null ? tcpLength : tcpAnswer;
            if (tcp.read(into) < 0) {
                fail(Probes.classify(new EOFException(), spec)); // as a blocking read of the rest would
                return;
            }
            if (into.hasRemaining()) {
                return;
            }
            if (tcpAnswer == null) {
                tcpAnswer = ByteBuffer.allocate((tcpLength.get(0) & 0xff) << 8 | (tcpLength.get(1) & 0xff));
                if (tcpAnswer.hasRemaining()) {
                    return;
                }
            }
            try {
                final Answer a = Answer.parse(tcpAnswer.array());
                if (a.id != id) {
                    throw new IllegalStateException("answer id " + a.id + " differs from the query's " + id);
                }
                answered(a);
            } catch (IllegalStateException e) {
                fail("dns: malformed answer: " + e.getMessage());
            }
        }

        private void answered(Answer a) {
            final CheckOptions o = spec.check();
            finish(judge(a, type, o), a.rcode, a.records(type).size());
        }

        @Override
        void fail(String error) {
            finish(error, -1, -1);
        }

        private void finish(String error, int rcode, int count) {
            final Map<String, Double> extra = new LinkedHashMap<>();
            if (count >= 0) {
                extra.put("answers", (double) count);
            }
            if (rcode >= 0) {
                extra.put("rcode", (double) rcode);
            }
            complete(new CheckResult(startedAt, error == null, -1, (System.nanoTime() - start) / 1e6,
                Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, error, false, extra));
        }
    }

    /** Whether the selector thread runs. */
    boolean running() {
        return loop.running();
    }

    /** Ends every open check down ("io: probe closed"), closes their sockets and stops the selector thread. */
    @Override
    public void close() {
        loop.close();
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
