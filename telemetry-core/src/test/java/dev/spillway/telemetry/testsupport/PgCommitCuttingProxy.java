package dev.spillway.telemetry.testsupport;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loopback TCP proxy in front of PostgreSQL that understands just enough of the wire protocol to cut a connection
 * at the worst moment for a client: after the server has committed a transaction but before the client learns it.
 *
 * <p>When armed with {@link #cutNextCommit()}, the next {@code COMMIT} any client sends (a simple-protocol
 * {@code Q} message, or an extended-protocol {@code Bind} of a statement parsed from {@code COMMIT}, named or not)
 * is forwarded to the server; when the server's {@code CommandComplete "COMMIT"} comes back, the proxy swallows it
 * and closes both sockets. The client then sees an I/O error (SQLSTATE 08006) for a commit that did happen.
 *
 * <p>Clients must connect without TLS or GSS encryption negotiation ({@code sslmode=disable&gssEncMode=disable},
 * see {@link #jdbcUrl(String)}), so that every message after the startup packet is a typed message.
 */
public final class PgCommitCuttingProxy implements AutoCloseable {

    private final String targetHost;
    private final int targetPort;
    private final ServerSocket listener;
    private final AtomicBoolean armed = new AtomicBoolean();
    private final AtomicInteger cuts = new AtomicInteger();
    private final AtomicInteger connections = new AtomicInteger();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Thread acceptor;
    private volatile boolean closed;

    private PgCommitCuttingProxy(String targetHost, int targetPort) throws IOException {
        this.targetHost = targetHost;
        this.targetPort = targetPort;
        this.listener = new ServerSocket();
        listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        this.acceptor = new Thread(this::acceptLoop, "pg-proxy-accept");
        acceptor.setDaemon(true);
    }

    /** Starts a proxy on a free loopback port, forwarding to {@code targetHost:targetPort}. */
    public static PgCommitCuttingProxy start(String targetHost, int targetPort) throws IOException {
        final PgCommitCuttingProxy proxy = new PgCommitCuttingProxy(targetHost, targetPort);
        proxy.acceptor.start();
        return proxy;
    }

    /** The proxy's port on 127.0.0.1. */
    public int port() {
        return listener.getLocalPort();
    }

    /** A JDBC URL for database {@code dbName} through this proxy. */
    public String jdbcUrl(String dbName) {
        return "jdbc:postgresql://127.0.0.1:" + port() + "/" + dbName + "?sslmode=disable&gssEncMode=disable";
    }

    /** Arms a one-shot cut of the next committed transaction's acknowledgement (on whichever connection). */
    public void cutNextCommit() {
        armed.set(true);
    }

    /** How many commit acknowledgements were cut so far. */
    public int cuts() {
        return cuts.get();
    }

    /** How many client connections were accepted so far. */
    public int connections() {
        return connections.get();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        listener.close();
        for (Socket s : sockets) {
            closeQuietly(s);
        }
    }

    private void acceptLoop() {
        while (!closed) {
            final Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return; // closed
            }
            connections.incrementAndGet();
            try {
                final Socket server = new Socket(targetHost, targetPort);
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(server);
                final Link link = new Link(client, server);
                daemon(() -> link.clientToServer(), "pg-proxy-c2s").start();
                daemon(() -> link.serverToClient(), "pg-proxy-s2c").start();
            } catch (IOException e) {
                closeQuietly(client);
            }
        }
    }

    private static Thread daemon(Runnable r, String name) {
        final Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    /** One proxied connection. */
    private final class Link {
        private final Socket client;
        private final Socket server;
        private final Set<String> commitStatements = new HashSet<>(); // named prepared statements of "COMMIT"
        private boolean unnamedIsCommit;
        /** Set by the client-to-server side when this connection's COMMIT is to be cut. */
        private volatile boolean cutOnCommitComplete;

        Link(Socket client, Socket server) {
            this.client = client;
            this.server = server;
        }

        void clientToServer() {
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(client.getInputStream()));
                 OutputStream out = new BufferedOutputStream(server.getOutputStream())) {
                final int startupLength = in.readInt(); // the startup packet has no type byte
                final byte[] startup = in.readNBytes(startupLength - 4);
                writeInt(out, startupLength);
                out.write(startup);
                out.flush();
                while (true) {
                    final int type = in.read();
                    if (type < 0) {
                        break;
                    }
                    final int length = in.readInt();
                    final byte[] body = in.readNBytes(length - 4);
                    if (body.length != length - 4) {
                        throw new EOFException();
                    }
                    if (isCommit((char) type, body) && armed.compareAndSet(true, false)) {
                        cutOnCommitComplete = true;
                    }
                    out.write(type);
                    writeInt(out, length);
                    out.write(body);
                    if (in.available() == 0) {
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // either side went away
            } finally {
                closeBoth();
            }
        }

        void serverToClient() {
            try (DataInputStream in = new DataInputStream(new BufferedInputStream(server.getInputStream()));
                 OutputStream out = new BufferedOutputStream(client.getOutputStream())) {
                while (true) {
                    final int type = in.read();
                    if (type < 0) {
                        break;
                    }
                    final int length = in.readInt();
                    final byte[] body = in.readNBytes(length - 4);
                    if (body.length != length - 4) {
                        throw new EOFException();
                    }
                    if (type == 'C' && cutOnCommitComplete && cString(body, 0).equals("COMMIT")) {
                        // The server has committed; the client must not find out.
                        cuts.incrementAndGet();
                        closeBoth();
                        return;
                    }
                    out.write(type);
                    writeInt(out, length);
                    out.write(body);
                    if (in.available() == 0) {
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // either side went away
            } finally {
                closeBoth();
            }
        }

        private boolean isCommit(char type, byte[] body) {
            switch (type) {
                case 'Q':
                    return isCommitText(cString(body, 0));
                case 'P': {
                    final String name = cString(body, 0);
                    final String query = cString(body, name.getBytes(StandardCharsets.UTF_8).length + 1);
                    final boolean commit = isCommitText(query);
                    if (name.isEmpty()) {
                        unnamedIsCommit = commit;
                    } else if (commit) {
                        commitStatements.add(name);
                    }
                    return false; // parsing is not executing
                }
                case 'B': {
                    final String portal = cString(body, 0);
                    final String statement = cString(body, portal.getBytes(StandardCharsets.UTF_8).length + 1);
                    return statement.isEmpty() ? unnamedIsCommit : commitStatements.contains(statement);
                }
                default:
                    return false;
            }
        }

        private void closeBoth() {
            closeQuietly(client);
            closeQuietly(server);
        }
    }

    private static boolean isCommitText(String sql) {
        final String s = sql.trim().toUpperCase(Locale.ROOT);
        return s.equals("COMMIT") || s.equals("COMMIT;") || s.equals("END") || s.equals("COMMIT TRANSACTION");
    }

    private static String cString(byte[] body, int from) {
        int end = from;
        while (end < body.length && body[end] != 0) {
            end++;
        }
        return new String(body, from, end - from, StandardCharsets.UTF_8);
    }

    private static void writeInt(OutputStream out, int v) throws IOException {
        out.write(v >>> 24);
        out.write(v >>> 16);
        out.write(v >>> 8);
        out.write(v);
    }
}
