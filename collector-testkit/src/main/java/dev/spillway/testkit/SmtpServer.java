package dev.spillway.testkit;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * A real SMTP server on a loopback port for tests: EHLO, STARTTLS (with an {@link SSLContext}, e.g.
 * {@link TargetServer#selfSigned}), AUTH PLAIN and LOGIN against one user, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
 * Records every message with how it came (after STARTTLS? authenticated as whom?). Scriptable: the replies to
 * RCPT per address (e.g. {@code 550 5.1.1 no such user}, {@code 451 4.7.1 try again later}), which AUTH mechanisms
 * it offers, and a hanging mode that accepts connections and never says a word.
 */
public final class SmtpServer implements AutoCloseable {

    /** One received message. */
    public record Message(String from, List<String> to, String data, boolean tls, String authUser,
                          String authMechanism) {
        /** A header's value (the first), unfolded; null when absent. */
        public String header(String name) {
            final String head = data.split("\r\n\r\n", 2)[0].replace("\r\n ", " ");
            for (String line : head.split("\r\n")) {
                final int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).equalsIgnoreCase(name)) {
                    return line.substring(colon + 1).trim();
                }
            }
            return null;
        }

        /** The body after the blank line (decoded when base64), lines joined with LF. */
        public String body() {
            final String[] parts = data.split("\r\n\r\n", 2);
            final String raw = parts.length < 2 ? "" : parts[1];
            if ("base64".equalsIgnoreCase(header("Content-Transfer-Encoding"))) {
                return new String(Base64.getMimeDecoder().decode(raw), StandardCharsets.UTF_8).replace("\r\n", "\n");
            }
            return raw.replace("\r\n", "\n");
        }
    }

    private final ServerSocket server;
    private final ExecutorService executor = Executors.newFixedThreadPool(8);
    private final SSLContext tls;
    private final List<Message> messages = new ArrayList<>();
    private final List<String> commands = new ArrayList<>();
    private final Map<String, String> rcptReplies = new ConcurrentHashMap<>();
    private final CountDownLatch closing = new CountDownLatch(1);
    private final List<Socket> open = new ArrayList<>();
    private volatile String user;
    private volatile String password;
    private volatile String mechanisms = "PLAIN LOGIN";
    private volatile boolean hang;
    private volatile int connections;

    /** @param tls offers STARTTLS with this context; null: no STARTTLS */
    public SmtpServer(SSLContext tls) throws IOException {
        this.tls = tls;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        executor.execute(this::acceptLoop);
    }

    /** The port on 127.0.0.1. */
    public int port() {
        return server.getLocalPort();
    }

    /** Requires AUTH (after STARTTLS when TLS is offered) with these credentials before MAIL. */
    public SmtpServer requireAuth(String user, String password) {
        this.user = user;
        this.password = password;
        return this;
    }

    /** The AUTH mechanisms offered, e.g. {@code LOGIN} (default {@code PLAIN LOGIN}). */
    public SmtpServer offerAuth(String mechanisms) {
        this.mechanisms = mechanisms;
        return this;
    }

    /** Answers RCPT for this address with this reply line (e.g. {@code 550 5.1.1 no such user}); null: accept. */
    public SmtpServer rcptReply(String address, String reply) {
        if (reply == null) {
            rcptReplies.remove(address);
        } else {
            rcptReplies.put(address, reply);
        }
        return this;
    }

    /** Accepts connections and never answers (not even the greeting) until closed. */
    public SmtpServer hang() {
        this.hang = true;
        return this;
    }

    /** Messages received (DATA accepted), in order. */
    public synchronized List<Message> messages() {
        return List.copyOf(messages);
    }

    /** Command verbs received (AUTH arguments left out), in order, over all connections. */
    public synchronized List<String> commands() {
        return List.copyOf(commands);
    }

    /** Connections accepted so far. */
    public int connections() {
        return connections;
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                final Socket s = server.accept();
                synchronized (this) {
                    open.add(s);
                }
                connections++;
                executor.execute(() -> serve(s));
            } catch (IOException e) {
                return;
            } catch (java.util.concurrent.RejectedExecutionException e) {
                return;
            }
        }
    }

    private synchronized void command(String verb) {
        commands.add(verb);
    }

    private void serve(Socket plain) {
        try (plain) {
            if (hang) {
                closing.await(60, TimeUnit.SECONDS);
                return;
            }
            plain.setSoTimeout(30_000);
            Socket s = plain;
            BufferedReader in = reader(s);
            OutputStream out = s.getOutputStream();
            reply(out, "220 localhost ESMTP spillway-test");
            boolean secure = false;
            String authUser = null;
            String authMechanism = null;
            String from = null;
            final List<String> to = new ArrayList<>();
            String line;
            while ((line = in.readLine()) != null) {
                final String upper = line.toUpperCase(java.util.Locale.ROOT);
                final String verb = upper.split(" ", 2)[0];
                command(verb.startsWith("MAIL") || verb.startsWith("RCPT") ? upper.substring(0, 4) : verb);
                if (verb.equals("EHLO")) {
                    final List<String> ext = new ArrayList<>();
                    ext.add("localhost greets you");
                    if (tls != null && !secure) {
                        ext.add("STARTTLS");
                    }
                    if (user != null && (secure || tls == null) && !mechanisms.isBlank()) {
                        ext.add("AUTH " + mechanisms);
                    }
                    ext.add("8BITMIME");
                    for (int i = 0; i < ext.size(); i++) {
                        reply(out, "250" + (i == ext.size() - 1 ? " " : "-") + ext.get(i));
                    }
                } else if (verb.equals("HELO")) {
                    reply(out, "250 localhost");
                } else if (verb.equals("STARTTLS") && tls != null && !secure) {
                    reply(out, "220 2.0.0 ready to start TLS");
                    final SSLSocket t = (SSLSocket) tls.getSocketFactory().createSocket(s, null, s.getPort(), true);
                    t.setUseClientMode(false);
                    t.startHandshake();
                    s = t;
                    in = reader(s);
                    out = s.getOutputStream();
                    secure = true;
                    authUser = null;
                    from = null;
                    to.clear();
                } else if (verb.equals("AUTH")) {
                    final String[] parts = line.split(" ");
                    final String mech = parts.length > 1 ? parts[1].toUpperCase(java.util.Locale.ROOT) : "";
                    String u;
                    String p;
                    if (mech.equals("PLAIN") && mechanisms.contains("PLAIN")) {
                        String arg = parts.length > 2 ? parts[2] : null;
                        if (arg == null) {
                            reply(out, "334 ");
                            arg = in.readLine();
                        }
                        final String[] cred = new String(Base64.getDecoder().decode(arg), StandardCharsets.UTF_8)
                            .split("\0", -1);
                        u = cred.length == 3 ? cred[1] : "";
                        p = cred.length == 3 ? cred[2] : "";
                    } else if (mech.equals("LOGIN") && mechanisms.contains("LOGIN")) {
                        reply(out, "334 VXNlcm5hbWU6");
                        u = new String(Base64.getDecoder().decode(in.readLine()), StandardCharsets.UTF_8);
                        reply(out, "334 UGFzc3dvcmQ6");
                        p = new String(Base64.getDecoder().decode(in.readLine()), StandardCharsets.UTF_8);
                    } else {
                        reply(out, "504 5.5.4 mechanism not offered");
                        continue;
                    }
                    if (u.equals(user) && p.equals(password)) {
                        authUser = u;
                        authMechanism = mech;
                        reply(out, "235 2.7.0 authenticated");
                    } else {
                        reply(out, "535 5.7.8 authentication credentials invalid");
                    }
                } else if (verb.startsWith("MAIL")) {
                    if (user != null && authUser == null) {
                        reply(out, "530 5.7.0 authentication required");
                    } else {
                        from = address(line);
                        to.clear();
                        reply(out, "250 2.1.0 ok");
                    }
                } else if (verb.startsWith("RCPT")) {
                    final String a = address(line);
                    final String scripted = rcptReplies.get(a);
                    if (from == null) {
                        reply(out, "503 5.5.1 MAIL first");
                    } else if (scripted != null) {
                        reply(out, scripted);
                    } else {
                        to.add(a);
                        reply(out, "250 2.1.5 ok");
                    }
                } else if (verb.equals("DATA")) {
                    if (to.isEmpty()) {
                        reply(out, "554 5.5.1 no valid recipients");
                        continue;
                    }
                    reply(out, "354 end with <CRLF>.<CRLF>");
                    final StringBuilder data = new StringBuilder();
                    String d;
                    while ((d = in.readLine()) != null && !d.equals(".")) {
                        data.append(d.startsWith(".") ? d.substring(1) : d).append("\r\n");
                    }
                    synchronized (this) {
                        messages.add(new Message(from, List.copyOf(to), data.toString(), secure, authUser,
                            authMechanism));
                    }
                    from = null;
                    to.clear();
                    reply(out, "250 2.0.0 queued as " + messages().size());
                } else if (verb.equals("RSET")) {
                    from = null;
                    to.clear();
                    reply(out, "250 2.0.0 ok");
                } else if (verb.equals("NOOP")) {
                    reply(out, "250 2.0.0 ok");
                } else if (verb.equals("QUIT")) {
                    reply(out, "221 2.0.0 bye");
                    return;
                } else {
                    reply(out, "502 5.5.2 command not recognized");
                }
            }
        } catch (IOException | RuntimeException e) {
            // the client went away, or spoke nonsense: this connection ends
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static BufferedReader reader(Socket s) throws IOException {
        return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
    }

    private static String address(String line) {
        final int lt = line.indexOf('<');
        final int gt = line.indexOf('>', lt + 1);
        return lt < 0 || gt < 0 ? "" : line.substring(lt + 1, gt);
    }

    private static void reply(OutputStream out, String line) throws IOException {
        out.write((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        closing.countDown();
        server.close();
        synchronized (this) {
            for (Socket s : open) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
        executor.shutdownNow();
    }
}
