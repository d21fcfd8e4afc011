package dev.spillway.collector;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;

/**
 * Random and malformed HTTP requests over every endpoint of the collector, written byte by byte on sockets of their
 * own (so nothing a client library would tidy up is tidied up): valid requests with random values, the same with
 * mutations (a character dropped or added, a key twice, an unknown key, NUL and line feeds, wrong types, deep
 * nesting, huge numbers), foreign {@code Host} and {@code Origin} headers, wrong content types, broken cookies and
 * tokens, and requests HTTP itself does not allow (bad request lines, bad percent-encoding, raw control bytes,
 * broken chunking, contradicting lengths). Each request is a pure function of the seed and its index, so a run can
 * be repeated exactly (with the database up, then down).
 */
final class HttpFuzz {

    /** One request: its bytes, which route template it aims at, and whether it carries the token. */
    record Request(int index, String template, byte[] bytes, boolean withToken) {
    }

    /** One answer: the status (-1: closed without one; -2: no answer in time), and its Retry-After header. */
    record Answer(Request request, int status, String retryAfter, String body, long millis) {
    }

    private static final String[] ROUTES = {
        "GET /ping", "HEAD /ping", "GET /health", "GET /ready", "GET /metrics",
        "POST /api/v2/write", "POST /write",
        "GET /api/v1/monitors", "POST /api/v1/monitors", "GET /api/v1/monitors/{m}", "PUT /api/v1/monitors/{m}",
        "DELETE /api/v1/monitors/{m}", "POST /api/v1/monitors/{m}/pause", "POST /api/v1/monitors/{m}/resume",
        "GET /api/v1/monitors/{m}/checks", "GET /api/v1/status",
        "GET /api/v1/services", "PUT /api/v1/services/{s}", "GET /api/v1/services/{s}",
        "DELETE /api/v1/services/{s}", "POST /api/v1/services/{s}/ping", "GET /api/v1/services/{s}/ping",
        "GET /api/v1/channels", "GET /api/v1/channels/{c}", "PUT /api/v1/channels/{c}", "DELETE /api/v1/channels/{c}",
        "GET /api/v1/notifications", "GET /api/v1/tokens", "POST /api/v1/tokens", "DELETE /api/v1/tokens/{t}",
        "GET /", "GET /monitors/{m}", "GET /api/v1/page/overview", "GET /api/v1/page/monitors/{m}",
        "GET /login", "POST /login", "POST /logout", "GET /assets/{a}",
        "* /{random}", "RAW malformed"};

    private static final String[] MONITOR_FIELDS = {"name", "url", "method", "headers", "body", "interval", "timeout",
        "expected_status", "keyword", "keyword_invert", "follow_redirects", "tls_verify", "failure_threshold",
        "success_threshold", "enabled", "tags"};

    private final long seed;
    private final String host;
    private final String token;

    /**
     * @param host the Host a well-behaved client sends ({@code 127.0.0.1:PORT})
     * @param token the token to present on some requests, or null
     */
    HttpFuzz(long seed, String host, String token) {
        this.seed = seed;
        this.host = host;
        this.token = token;
    }

    /** The route templates, for coverage counts. */
    static List<String> routes() {
        return List.of(ROUTES);
    }

    /** Request {@code i} of the sequence. */
    Request request(int i) {
        final Random r = new Random(seed * 1_000_003L + i);
        final String template = ROUTES[r.nextInt(ROUTES.length)];
        final boolean withToken = token != null && r.nextInt(3) > 0;
        // Two in five requests are well-formed throughout (valid names, values, headers), so the fuzz reaches the
        // handlers and the database, not only the checks in front of them.
        final boolean clean = r.nextInt(5) < 2;
        if (template.equals("RAW malformed")) {
            return new Request(i, template, malformed(r), withToken);
        }
        final int space = template.indexOf(' ');
        String method = template.substring(0, space);
        String path = template.substring(space + 1);
        if (method.equals("*")) {
            method = pick(r, "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get", "HEAD");
            path = "/" + pick(r, "api/v1/" + word(r), "api/v2/" + word(r), word(r), "api/v1/monitors/a/b/c",
                "api/v1//monitors", "assets/../logback.xml", "%2e%2e/%2e%2e/etc/passwd", "api/v1/services/x/ping/y",
                "..", "api/v1/page/monitors/", "monitors/", "login/x");
        }
        if (!clean && r.nextInt(10) == 0 && !method.equals("HEAD")) {
            method = pick(r, "GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"); // a method the route does not take
        }
        path = path.replace("{m}", name(r, "mon", clean)).replace("{s}", name(r, "svc", clean))
            .replace("{c}", name(r, "ch", clean)).replace("{t}", clean ? Integer.toString(1 + r.nextInt(30))
                : pick(r, "0", "-1", "99999999999999999999", "x", "%00", "1e3"))
            .replace("{a}", pick(r, "status.js", "status.css", "uplot/uPlot.iife.min.js", "uplot/LICENSE", word(r),
                "nope.js", "%00", "uplot/%2e%2e%2fstatus.js")).replace("{random}", word(r));
        final String query = clean ? "" : query(r, template);
        final List<String[]> headers = new ArrayList<>();
        headers.add(new String[] {"Host", clean ? host : hostHeader(r)});
        if (withToken && clean) {
            headers.add(new String[] {"Authorization", "Token " + token});
        } else if (withToken) {
            headers.add(new String[] {"Authorization", pick(r, "Token " + token, "Bearer " + token, "Token " + token,
                "Basic " + java.util.Base64.getEncoder().encodeToString(("u:" + token).getBytes(StandardCharsets.UTF_8)))});
        } else if (r.nextInt(4) == 0) {
            headers.add(new String[] {"Authorization", pick(r, "Token wrong", "Basic !!!", "Token", "Bearer ",
                "Digest x", "Basic " + java.util.Base64.getEncoder().encodeToString("nocolon".getBytes(
                    StandardCharsets.UTF_8)))});
        }
        if (!clean && r.nextInt(5) == 0) {
            headers.add(new String[] {"Origin", pick(r, "http://" + host, "http://evil.example", "null",
                "http://" + host + "/x", "not a url", "https://" + host, "http://[::1", "http://" + host.replace("127.0.0.1",
                "localhost"))});
        }
        if (!clean && r.nextInt(6) == 0) {
            headers.add(new String[] {"Sec-Fetch-Site", pick(r, "same-origin", "cross-site", "same-site", "none", "x")});
            headers.add(new String[] {"Sec-Fetch-Mode", pick(r, "navigate", "cors", "no-cors", "same-origin")});
        }
        if (!clean && r.nextInt(6) == 0) {
            headers.add(new String[] {"Cookie", pick(r, "spillway_session=" + word(r), "spillway_session=",
                "spillway_login=" + word(r), "a=b; spillway_session=%zz", "=;;;=", "spillway_session=" + "A".repeat(43))});
        }
        if (r.nextInt(8) == 0) {
            headers.add(new String[] {"X-Forwarded-For", pick(r, "203.0.113.9", "garbage", "1.2.3.4, 5.6.7.8", "::1")});
            headers.add(new String[] {"X-Forwarded-Proto", pick(r, "https", "http", "gopher")});
        }
        byte[] body = body(r, method, template, clean);
        final boolean jsonRoute = template.startsWith("PUT /api/v1/") || template.equals("POST /api/v1/monitors")
            || template.equals("POST /api/v1/tokens");
        if (body != null) {
            final String type = jsonRoute ? (!clean && r.nextInt(6) == 0 ? contentType(r) : "application/json")
                : template.equals("POST /login") || template.equals("POST /logout")
                ? (!clean && r.nextInt(6) == 0 ? contentType(r) : "application/x-www-form-urlencoded")
                : clean ? "text/plain; charset=utf-8" : contentType(r);
            if (type != null) {
                headers.add(new String[] {"Content-Type", type});
            }
            if (!clean && template.contains("write") && r.nextInt(8) == 0) {
                headers.add(new String[] {"Content-Encoding", pick(r, "gzip", "br", "identity", "x-gzip")});
                if (r.nextBoolean()) {
                    body = gzip(body);
                }
            }
        }
        if (r.nextInt(12) == 0) {
            headers.add(new String[] {pick(r, "X-Spillway-Ack", "Accept", "If-None-Match", "Accept-Encoding"),
                pick(r, "commit", "accept", "nonsense", "application/openmetrics-text", "\"0123\"", "*/*")});
        }
        return new Request(i, template, encode(method, path + query, headers, body), withToken);
    }

    private String hostHeader(Random r) {
        return switch (r.nextInt(20)) {
            case 0 -> "evil.example:" + host.substring(host.indexOf(':') + 1);
            case 1 -> "localhost:" + host.substring(host.indexOf(':') + 1);
            case 2 -> pick(r, "", "[::1", "a b", "x:y:z", "127.0.0.1:99999", "%41", "..", "[::1]:1");
            default -> host;
        };
    }

    private static String query(Random r, String template) {
        if (r.nextInt(3) != 0) {
            return "";
        }
        final String key = template.contains("write") ? pick(r, "precision", "bucket", "org", "db", "p", "ack")
            : template.contains("checks") ? pick(r, "from", "to", "limit")
            : template.contains("ping") ? "status"
            : template.contains("notifications") ? pick(r, "state", "limit")
            : template.contains("overview") || template.equals("GET /") ? "page"
            : template.contains("monitors/") ? "range"
            : template.contains("login") ? pick(r, "next", "token") : pick(r, "token", "x", "page");
        final String value = pick(r, "1", "0", "-1", "99999999999999999999", "s", "ms", "ns", "h", "commit", "pending",
            "failed", "24h", "1h", "30d", "x", "%00", "%0A", "%zz", "%", "1e9", "2026-01-01T00:00:00Z", "15m", "%2F%2Fevil",
            "/monitors/x", "a%C3%A9", "%FF%FE", "", "1000", "NaN");
        return "?" + key + "=" + value + (r.nextInt(5) == 0 ? "&" + key + "=2" : "");
    }

    private static String contentType(Random r) {
        return pick(r, "application/json", "application/json; charset=utf-8", "text/plain", "application/xml",
            "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/merge-patch+json",
            "garbage", "", null);
    }

    private byte[] body(Random r, String method, String template, boolean clean) {
        if (method.equals("GET") || method.equals("HEAD") || method.equals("DELETE")) {
            return !clean && r.nextInt(15) == 0 ? bytes(r, 20) : null;
        }
        if (clean) {
            final String text = switch (template) {
                case "POST /api/v2/write", "POST /write" -> "fuzz,host=h" + r.nextInt(20) + " v=" + r.nextInt(100);
                case "POST /api/v1/monitors", "PUT /api/v1/monitors/{m}" -> json(r, validMonitor(r), true);
                case "PUT /api/v1/services/{s}" -> json(r, Map.of("timeout", pick(r, "30s", "1h", "1d"), "grace",
                    pick(r, "0s", "5s"), "statuses", List.of("ok", "degraded")), true);
                case "PUT /api/v1/channels/{c}" -> json(r, Map.of("kind", pick(r, "webhook", "slack"), "url",
                    "http://127.0.0.1:1/hook/" + r.nextInt(9)), true);
                case "POST /api/v1/tokens" -> r.nextBoolean() ? json(r, Map.of("name", "t" + r.nextInt(9)), true)
                    : json(r, Map.of("name", "k", "scope", "ping", "service", "svc-" + r.nextInt(6)), true);
                default -> null;
            };
            return text == null ? null : text.getBytes(StandardCharsets.UTF_8);
        }
        final String text = switch (template) {
            case "POST /api/v2/write", "POST /write" -> lines(r);
            case "POST /api/v1/monitors", "PUT /api/v1/monitors/{m}" -> json(r, monitor(r), false);
            case "PUT /api/v1/services/{s}" -> json(r, service(r), false);
            case "PUT /api/v1/channels/{c}" -> json(r, channel(r), false);
            case "POST /api/v1/tokens" -> json(r, Map.of("name", pick(r, "t", "bad name", "", 5), "scope",
                pick(r, "read", "ping", "admin", 1), "service", pick(r, "svc-0", "nobody", "a\u0000")), false);
            case "POST /login", "POST /logout" -> pick(r, "token=" + (token == null ? "x" : token) + "&csrf=abc&next=%2F",
                "token=%zz", "token=a%00b&csrf=x", "csrf=", "next=%2F%2Fevil&token=x", "&&&==", "token=" + word(r), "");
            default -> r.nextInt(3) == 0 ? "" : new String(bytes(r, 40), StandardCharsets.ISO_8859_1);
        };
        if (r.nextInt(20) == 0) {
            return bytes(r, 200); // not text at all
        }
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static String lines(Random r) {
        final StringBuilder sb = new StringBuilder();
        final int n = 1 + r.nextInt(5);
        for (int i = 0; i < n; i++) {
            String line = pick(r, "fuzz,host=a v=1", "fuzz,host=b v=2i 1700000000000000000", "fuzz v=\"s\"",
                "heartbeat,service=svc-0 status=0i", "fuzz,t=\\ x v=1", "fuzz v=1u", "fuzz v=t", "fuzz,host=" + "h".repeat(
                    300) + " v=1", "fuzz v=1e400", "fuzz", "fuzz,=x v=1", "fuzz v=", "fuzz,host=a\u0000 v=1",
                "fuzz,host=\u00e9 v=1");
            if (r.nextInt(4) == 0) {
                line = mutate(r, line);
            }
            sb.append(line).append(r.nextInt(8) == 0 ? "\r\n" : "\n");
        }
        return sb.toString();
    }

    private static Map<String, Object> validMonitor(Random r) {
        final Map<String, Object> m = new TreeMap<>();
        m.put("name", "mon-" + r.nextInt(6));
        m.put("url", pick(r, "http://127.0.0.1:1/", "http://[::1]:1/x", "http://u:p@127.0.0.1:1/"));
        m.put("interval", pick(r, "1h", "10m", "30s"));
        if (r.nextBoolean()) {
            m.put("headers", Map.of("Authorization", "Bearer x", "Accept", "text/plain"));
        }
        if (r.nextBoolean()) {
            m.put("keyword", "ok");
        }
        if (r.nextBoolean()) {
            m.put("tags", Map.of("env", pick(r, "prod", "test")));
        }
        m.put("enabled", r.nextInt(4) > 0);
        return m;
    }

    private static Map<String, Object> monitor(Random r) {
        final Map<String, Object> m = new TreeMap<>();
        for (String f : MONITOR_FIELDS) {
            if (r.nextInt(3) != 0 && !f.equals("name") && !f.equals("url")) {
                continue;
            }
            m.put(f, switch (f) {
                case "name" -> name(r, "mon", false);
                case "url" -> pick(r, "http://127.0.0.1:1/", "http://[::1]:1/x", "https://127.0.0.1:1/", "ftp://x/",
                    "http://", "http://127.0.0.1:1/\u0000", "http://u:p@127.0.0.1:1/", "not a url", 5);
                case "method" -> pick(r, "GET", "POST", "get", "BREW", 1);
                case "headers" -> r.nextBoolean() ? Map.of("Authorization", "Bearer x") : pick(r, Map.of("a b", "c"),
                    Map.of("X", "\r\nInjected: 1"), "x", Map.of("X", 5));
                case "body" -> pick(r, "{}", "a\nb", "\u0000", "x".repeat(70_000), 5);
                case "interval", "timeout" -> pick(r, "1s", "1500ms", "1h", "0s", "-5s", 1, 0.5, 1e300, "P1D", "x", true);
                case "expected_status" -> pick(r, "200-299", "200,301", "99", "600", "299-200", List.of(200, "301-302"),
                    List.of(true), "");
                case "keyword" -> pick(r, "ok", "", "a\u0000b", "x\ny", "z".repeat(2000), 7);
                case "keyword_invert", "follow_redirects", "tls_verify", "enabled" -> pick(r, true, false, "true", 1);
                case "failure_threshold", "success_threshold" -> pick(r, 1, 3, 0, 101, 2.5, "3", 4_000_000_000L);
                case "tags" -> pick(r, Map.of("env", "prod"), Map.of("env", "a\u0000b"), Map.of("monitor", "x"),
                    Map.of("bad key", "v"), "x", Map.of("k", ""));
                default -> "x";
            });
        }
        return m;
    }

    private static Map<String, Object> service(Random r) {
        final Map<String, Object> m = new TreeMap<>();
        m.put("timeout", pick(r, "30s", "1s", "0s", "400d", 30, -1, "x", true));
        if (r.nextBoolean()) {
            m.put("grace", pick(r, "5s", "0s", "-1s", 1e10, "x"));
        }
        if (r.nextBoolean()) {
            m.put("statuses", pick(r, List.of("ok", "degraded"), List.of(), List.of("ok\nERROR forged"),
                List.of("\u0000"), List.of(1), "ok", List.of(" ")));
        }
        return m;
    }

    private static Map<String, Object> channel(Random r) {
        final Map<String, Object> m = new TreeMap<>();
        m.put("kind", pick(r, "webhook", "slack", "log", "pager", 3));
        m.put("url", pick(r, "http://127.0.0.1:1/hook", "https://u:p@127.0.0.1:1/services/T/B/X", "ftp://x", "http://",
            "http://h/\u0000", "not a url", 1));
        return m;
    }

    /** A JSON text of {@code value}, often mutated. */
    private static String json(Random r, Map<String, Object> value, boolean clean) {
        String s;
        try {
            s = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(value);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        if (clean) {
            return s;
        }
        return switch (r.nextInt(12)) {
            case 0 -> mutate(r, s);
            case 1 -> s.replaceFirst("\\{", "{\"" + pick(r, "name", "timeout", "kind", "url") + "\":\"dup\",");
            case 2 -> s.replaceFirst("\\{", "{\"" + word(r) + "\":1,");
            case 3 -> "[" + s + "]";
            case 4 -> "[".repeat(5_000) + "]".repeat(5_000);
            case 5 -> s.substring(0, r.nextInt(s.length()));
            case 6 -> "<monitor><name>x</name></monitor>";
            case 7 -> s + " trailing";
            case 8 -> "{\"a\":" + "9".repeat(5_000) + "}";
            default -> s;
        };
    }

    private static String mutate(Random r, String s) {
        final StringBuilder sb = new StringBuilder(s);
        final int n = 1 + r.nextInt(3);
        for (int i = 0; i < n && sb.length() > 0; i++) {
            final int at = r.nextInt(sb.length());
            switch (r.nextInt(3)) {
                case 0 -> sb.deleteCharAt(at);
                case 1 -> sb.insert(at, pick(r, "\"", "{", "}", ",", ":", "\\", "\u0000", "\n", "\\u0000", "\u00e9",
                    "\ud800", "=", " ", "\t"));
                default -> sb.setCharAt(at, (char) (r.nextInt(0x7f)));
            }
        }
        return sb.toString();
    }

    /** A request HTTP does not allow, complete (so the server never waits for more). */
    private byte[] malformed(Random r) {
        final String h = "Host: " + host + "\r\n";
        final String raw = switch (r.nextInt(16)) {
            case 0 -> "GET\r\n\r\n";
            case 1 -> "GET / HTTP/9.9\r\n" + h + "\r\n";
            case 2 -> "GET /api/v1/monitors HTTP/1.1\r\n" + h + "NoColonHere\r\n\r\n";
            case 3 -> "GET /api/v1/services/a%zz HTTP/1.1\r\n" + h + "\r\n";
            case 4 -> "GET /api/v1/services/a\u0001b HTTP/1.1\r\n" + h + "\r\n";
            case 5 -> "POST /api/v2/write HTTP/1.1\r\n" + h + "Content-Length: abc\r\n\r\nfuzz v=1";
            case 6 -> "POST /api/v2/write HTTP/1.1\r\n" + h + "Content-Length: 8\r\nContent-Length: 3\r\n\r\nfuzz v=1";
            case 7 -> "POST /api/v2/write HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\nzz\r\nfuzz v=1\r\n0\r\n\r\n";
            case 8 -> "POST /api/v2/write HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                + "8\r\nfuzz v=1\r\n0\r\n\r\n";
            case 9 -> "GET /" + "a".repeat(20_000) + " HTTP/1.1\r\n" + h + "\r\n";
            case 10 -> "GET / HTTP/1.1\r\n" + h + "X-Big: " + "b".repeat(20_000) + "\r\n\r\n";
            case 11 -> "GET /api/v1/monitors HTTP/1.1\n" + h.replace("\r\n", "\n") + "\n";
            case 12 -> "PUT /api/v1/services/x HTTP/1.1\r\n" + h + "Content-Type: application/json\r\nContent-Length: 2"
                + "\r\n\r\n{}{\"timeout\":1}";
            case 13 -> "GET /api/v1/services/%00 HTTP/1.1\r\n" + h + "Content-Length: -1\r\n\r\n";
            case 14 -> "GET /?page=%FF%FE%00 HTTP/1.1\r\n" + h + "Cookie: \u0000\u0001\r\n\r\n";
            default -> new String(bytes(r, 300), StandardCharsets.ISO_8859_1) + "\r\n\r\n";
        };
        return (raw + "\r\n").getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] encode(String method, String target, List<String[]> headers, byte[] body) {
        final StringBuilder sb = new StringBuilder(method).append(' ').append(target).append(" HTTP/1.1\r\n");
        for (String[] h : headers) {
            sb.append(h[0]).append(": ").append(h[1]).append("\r\n");
        }
        if (body != null) {
            sb.append("Content-Length: ").append(body.length).append("\r\n");
        }
        sb.append("Connection: close\r\n\r\n");
        final byte[] head = sb.toString().getBytes(StandardCharsets.UTF_8);
        if (body == null) {
            return head;
        }
        final byte[] all = java.util.Arrays.copyOf(head, head.length + body.length);
        System.arraycopy(body, 0, all, head.length, body.length);
        return all;
    }

    private static byte[] gzip(byte[] b) {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(b);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return out.toByteArray();
    }

    private static String name(Random r, String prefix, boolean clean) {
        if (clean) {
            return prefix + "-" + r.nextInt(6);
        }
        return switch (r.nextInt(10)) {
            case 0 -> pick(r, "a%00b", "a%0Ab", "a%0D%0AERROR", "%zz", "%", "x".repeat(300), "%C3%A9t%C3%A9", "a%20b",
                "a%2Fb", "..", "%2e", "a%1Bb", "a%E2%80%A8b");
            case 1 -> word(r);
            default -> prefix + "-" + r.nextInt(6);
        };
    }

    private static String word(Random r) {
        final String chars = "abcXYZ019-_.~%";
        final StringBuilder sb = new StringBuilder();
        final int n = 1 + r.nextInt(12);
        for (int i = 0; i < n; i++) {
            sb.append(chars.charAt(r.nextInt(chars.length())));
        }
        return sb.toString();
    }

    private static byte[] bytes(Random r, int max) {
        final byte[] b = new byte[1 + r.nextInt(max)];
        r.nextBytes(b);
        return b;
    }

    @SafeVarargs
    private static <T> T pick(Random r, T... options) {
        return options[r.nextInt(options.length)];
    }

    /**
     * Sends requests {@code from..to-1} of each fuzz to its address on {@code threads} threads, one connection per
     * request, and reads each answer within {@code timeoutMillis}. Request {@code i} comes from loopback address
     * {@link #source source(i)}, one of {@link #SOURCES}: a fuzz from the internet comes from many addresses, and
     * the collector throttles wrong credentials per address (20, then one per 3 s), which would otherwise answer
     * most of a token-guarded collector's requests 429 before they reach a handler.
     */
    static List<Answer> run(List<HttpFuzz> fuzzes, List<InetSocketAddress> addresses, int count, int threads,
                            int timeoutMillis) throws Exception {
        final List<Answer> answers = java.util.Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger next = new AtomicInteger();
        final ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            final List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    for (int i = next.getAndIncrement(); i < count; i = next.getAndIncrement()) {
                        final int which = i % fuzzes.size();
                        answers.add(send(addresses.get(which), fuzzes.get(which).request(i), timeoutMillis,
                            source(i)));
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        return answers;
    }

    /** Client addresses the fuzz's requests come from. */
    static final int SOURCES = 2_000;

    /** Request {@code i}'s client address: 127.64.x.y, one of {@link #SOURCES} (all on Linux's loopback). */
    static InetSocketAddress source(int i) {
        final int n = i % SOURCES;
        return new InetSocketAddress("127.64." + (n / 250) + "." + (n % 250 + 1), 0);
    }

    static Answer send(InetSocketAddress address, Request req, int timeoutMillis) {
        return send(address, req, timeoutMillis, null);
    }

    static Answer send(InetSocketAddress address, Request req, int timeoutMillis, InetSocketAddress from) {
        final long start = System.nanoTime();
        try (Socket s = new Socket()) {
            if (from != null) {
                s.bind(from);
            }
            s.connect(address, timeoutMillis);
            s.setSoTimeout(timeoutMillis);
            final OutputStream out = s.getOutputStream();
            try {
                out.write(req.bytes());
                out.flush();
            } catch (IOException e) {
                // The server may answer and close before reading everything (413, 431): read what it said.
            }
            final InputStream in = s.getInputStream();
            while (true) {
                final String status = line(in);
                if (status == null) {
                    return new Answer(req, -1, null, "", millis(start));
                }
                final String[] parts = status.split(" ", 3);
                final int code = Integer.parseInt(parts[1]);
                String retryAfter = null;
                int length = 0;
                for (String l = line(in); l != null && !l.isEmpty(); l = line(in)) {
                    final int colon = l.indexOf(':');
                    final String name = l.substring(0, colon).trim().toLowerCase(Locale.ROOT);
                    if (name.equals("retry-after")) {
                        retryAfter = l.substring(colon + 1).trim();
                    } else if (name.equals("content-length")) {
                        length = Integer.parseInt(l.substring(colon + 1).trim());
                    }
                }
                if (code == 100) {
                    continue;
                }
                final String body = new String(in.readNBytes(length), StandardCharsets.UTF_8);
                return new Answer(req, code, retryAfter, body, millis(start));
            }
        } catch (SocketTimeoutException e) {
            return new Answer(req, -2, null, e.toString(), millis(start));
        } catch (IOException e) {
            return new Answer(req, -1, null, e.toString(), millis(start));
        }
    }

    private static long millis(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    private static String line(InputStream in) throws IOException {
        final ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0) {
            if (c == '\n') {
                final String s = b.toString(StandardCharsets.ISO_8859_1);
                return s.endsWith("\r") ? s.substring(0, s.length() - 1) : s;
            }
            b.write(c);
        }
        return b.size() == 0 ? null : b.toString(StandardCharsets.ISO_8859_1);
    }

    /** Counts by a key, for messages. */
    static Map<String, Integer> count(List<Answer> answers, java.util.function.Function<Answer, String> key) {
        final Map<String, Integer> m = new ConcurrentHashMap<>();
        for (Answer a : answers) {
            m.merge(key.apply(a), 1, Integer::sum);
        }
        return new TreeMap<>(m);
    }
}
