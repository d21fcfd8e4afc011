package dev.spillway.uptime.monitor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 server on a loopback address written on raw sockets, so a test sees what a client really did: every
 * accepted connection is counted, every request recorded with its headers, and a path can stream a body of any
 * declared size, counting what it managed to write. One request per connection ({@code Connection: close}).
 */
final class RawTarget implements AutoCloseable {

    /** A request as received: method, path, headers (names case-insensitive), body (of its Content-Length). */
    record Request(String method, String path, Map<String, String> headers, String body) {
        String header(String name) {
            return headers.get(name);
        }
    }

    /** Writes the whole response (status line, headers, body) for a request. */
    interface Handler {
        void respond(Request request, OutputStream out) throws IOException;
    }

    private final ServerSocket server;
    private final String host;
    private final Map<String, Handler> routes = new ConcurrentHashMap<>();
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger connections = new AtomicInteger();
    private final Thread acceptor;

    /** Listens on {@code address} (e.g. 127.0.0.1, or 127.0.0.2 for a second loopback address), ephemeral port. */
    RawTarget(String address) throws IOException {
        this.host = address;
        this.server = new ServerSocket();
        server.bind(new InetSocketAddress(InetAddress.getByName(address), 0), 50);
        routes.put("/__control", (r, out) -> respond(out, 204, "", Map.of()));
        this.acceptor = new Thread(this::accept, "raw-target-" + address);
        acceptor.setDaemon(true);
        acceptor.start();
    }

    RawTarget on(String path, Handler h) {
        routes.put(path, h);
        return this;
    }

    int port() {
        return server.getLocalPort();
    }

    /** {@code http://ADDRESS:PORT} + path. */
    String url(String path) {
        return "http://" + host + ":" + port() + path;
    }

    /** Connections accepted so far. */
    int connections() {
        return connections.get();
    }

    /** Requests received, in order (the control requests of {@link #control} excluded). */
    List<Request> requests() {
        return requests.stream().filter(r -> !r.path.equals("/__control")).toList();
    }

    /**
     * Makes one connection of the test's own and waits for its answer. Connections are accepted in arrival order,
     * so when this returns every connection made before it has been counted: then {@code connections() == 1}
     * proves nobody else connected.
     */
    void control() throws IOException {
        try (Socket s = new Socket(InetAddress.getByName(host), port())) {
            s.getOutputStream().write(("GET /__control HTTP/1.1\r\nHost: control\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII));
            s.getInputStream().readAllBytes();
        }
    }

    private void accept() {
        while (!server.isClosed()) {
            final Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            connections.incrementAndGet();
            final Thread t = new Thread(() -> serve(s), "raw-target-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private void serve(Socket s) {
        try (s) {
            s.setSendBufferSize(64 * 1024);
            final InputStream in = s.getInputStream();
            final String head = readHead(in);
            if (head == null) {
                return;
            }
            final String[] lines = head.split("\r\n");
            final String[] start = lines[0].split(" ");
            final Map<String, String> headers = new TreeMap<>(String.CASE_INSENSITIVE_ORDER);
            for (int i = 1; i < lines.length; i++) {
                final int colon = lines[i].indexOf(':');
                if (colon > 0) {
                    headers.put(lines[i].substring(0, colon).trim(), lines[i].substring(colon + 1).trim());
                }
            }
            final String length = headers.get("Content-Length");
            final String body = length == null ? ""
                : new String(in.readNBytes(Integer.parseInt(length)), StandardCharsets.UTF_8);
            final String path = start[1].contains("?") ? start[1].substring(0, start[1].indexOf('?')) : start[1];
            final Request r = new Request(start[0], path, headers, body);
            requests.add(r);
            final Handler h = routes.getOrDefault(path, (q, out) -> respond(out, 404, "no route", Map.of()));
            final OutputStream out = s.getOutputStream();
            h.respond(r, out);
            out.flush();
        } catch (IOException e) {
            // the client went away (cut bodies, timeouts): what those tests expect
        }
    }

    private static String readHead(InputStream in) throws IOException {
        final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int matched = 0;
        while (matched < 4) {
            final int b = in.read();
            if (b < 0) {
                return null;
            }
            buf.write(b);
            matched = (b == '\r' && (matched == 0 || matched == 2)) || (b == '\n' && (matched == 1 || matched == 3))
                ? matched + 1 : (b == '\r' ? 1 : 0);
            if (buf.size() > 65_536) {
                return null;
            }
        }
        return buf.toString(StandardCharsets.ISO_8859_1);
    }

    /** A complete response with a Content-Length. */
    static void respond(OutputStream out, int status, String body, Map<String, String> headers) throws IOException {
        final byte[] b = body.getBytes(StandardCharsets.UTF_8);
        final StringBuilder sb = new StringBuilder("HTTP/1.1 ").append(status).append(" X\r\n");
        headers.forEach((k, v) -> sb.append(k).append(": ").append(v).append("\r\n"));
        sb.append("Content-Length: ").append(b.length).append("\r\nConnection: close\r\n\r\n");
        out.write(sb.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.write(b);
    }

    static Handler ok(String body) {
        return (r, out) -> respond(out, 200, body, Map.of());
    }

    static Handler redirect(int status, String location) {
        return (r, out) -> respond(out, status, "moved", Map.of("Location", location));
    }

    /**
     * A body declared as {@code declared} bytes ({@code chunked} when false: no length, chunked encoding, endless),
     * written until the client goes away; {@code written} completes with the bytes the server managed to write.
     */
    static Handler endless(long declared, boolean chunked, CompletableFuture<Long> written) {
        return (r, out) -> {
            long n = 0;
            try {
                out.write(("HTTP/1.1 200 OK\r\n" + (chunked ? "Transfer-Encoding: chunked\r\n"
                    : "Content-Length: " + declared + "\r\n") + "Connection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
                final byte[] block = new byte[64 * 1024];
                java.util.Arrays.fill(block, (byte) 'a');
                final byte[] chunkHead = (Integer.toHexString(block.length) + "\r\n")
                    .getBytes(StandardCharsets.US_ASCII);
                while (n < declared) {
                    if (chunked) {
                        out.write(chunkHead);
                    }
                    out.write(block);
                    if (chunked) {
                        out.write('\r');
                        out.write('\n');
                    }
                    n += block.length;
                }
            } catch (SocketException e) {
                // the client closed: the end this handler waits for
            } finally {
                written.complete(n);
            }
        };
    }

    @Override
    public void close() {
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
