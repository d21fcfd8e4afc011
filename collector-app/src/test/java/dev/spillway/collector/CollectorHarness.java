package dev.spillway.collector;

import dev.spillway.collector.config.CollectorOptions;
import dev.spillway.telemetry.testsupport.TestDatabase;

import java.io.PrintStream;
import java.nio.file.Files;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** An in-process collector on a fresh test database with random ports, plus HTTP and SQL helpers. */
final class CollectorHarness implements AutoCloseable {

    final TestDatabase db;
    final Collector collector;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    private CollectorHarness(TestDatabase db, Collector collector) {
        this.db = db;
        this.collector = collector;
    }

    /** Starts a collector on {@code db} with the given extra options. */
    static CollectorHarness start(TestDatabase db, String... extra) throws Exception {
        return start(db, java.time.Clock.systemUTC(), extra);
    }

    /** Starts a collector on {@code db} with a clock the test controls. */
    static CollectorHarness start(TestDatabase db, java.time.Clock clock, String... extra) throws Exception {
        final List<String> args = new ArrayList<>(List.of("--jdbc-url", db.jdbcUrl(), "--db-user", db.user(),
            "--db-password", db.password(), "--http", "127.0.0.1:0", "--flush-interval", "10ms"));
        if (!List.of(extra).contains("--spool-dir")) {
            // Each collector its own spool: a shared one would replay one test's leftovers into another's database.
            args.addAll(List.of("--spool-dir", Files.createTempDirectory("spillway-spool").toString()));
        }
        args.addAll(List.of(extra));
        final var parsed = CollectorOptions.parse(args.toArray(String[]::new), Map.of(),
            new PrintStream(OutputStream.nullOutputStream()));
        return new CollectorHarness(db, Collector.start(((CollectorOptions.Run) parsed).config(), clock));
    }

    /**
     * Starts an edge without any database option (a NATS-only edge); {@code db} is only where the test looks for
     * what its writers stored.
     */
    static CollectorHarness startWithoutDatabase(TestDatabase db, String... extra) throws Exception {
        final List<String> args = new ArrayList<>(List.of("--http", "127.0.0.1:0", "--flush-interval", "10ms"));
        if (!List.of(extra).contains("--spool-dir")) {
            args.addAll(List.of("--spool-dir", Files.createTempDirectory("spillway-spool").toString()));
        }
        args.addAll(List.of(extra));
        final var parsed = CollectorOptions.parse(args.toArray(String[]::new), Map.of(),
            new PrintStream(OutputStream.nullOutputStream()));
        return new CollectorHarness(db, Collector.start(((CollectorOptions.Run) parsed).config()));
    }

    URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + collector.httpAddress().getPort() + pathAndQuery);
    }

    HttpResponse<String> post(String pathAndQuery, String body, String... headers) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(uri(pathAndQuery))
            .POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> postBytes(String pathAndQuery, byte[] body, String... headers) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(uri(pathAndQuery))
            .POST(HttpRequest.BodyPublishers.ofByteArray(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** A PUT of a JSON document (every PUT endpoint takes JSON): {@code Content-Type: application/json} unless given. */
    HttpResponse<String> put(String pathAndQuery, String body, String... headers) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(uri(pathAndQuery))
            .PUT(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) {
            b.headers(headers);
        }
        boolean typed = false;
        for (int i = 0; i < headers.length; i += 2) {
            typed |= headers[i].equalsIgnoreCase("Content-Type");
        }
        if (!typed) {
            b.header("Content-Type", "application/json");
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path, String... headers) throws Exception {
        final HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    long count(String where) {
        return db.queryLong("SELECT count(*) FROM telemetry WHERE " + where);
    }

    /** Rows as "measurement|tags|field|value|epochNanos" strings, ordered, for exact assertions. */
    List<String> rows(String where) throws SQLException {
        final List<String> out = new ArrayList<>();
        try (Connection c = db.connect(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT measurement, tags::text, field, value, "
                 + "(extract(epoch FROM time) * 1000000)::bigint * 1000 FROM telemetry WHERE " + where
                 + " ORDER BY time, field")) {
            while (rs.next()) {
                out.add(rs.getString(1) + "|" + rs.getString(2) + "|" + rs.getString(3) + "|" + rs.getDouble(4) + "|"
                    + rs.getLong(5));
            }
        }
        return out;
    }

    @Override
    public void close() {
        collector.close();
    }
}
