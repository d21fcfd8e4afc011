package dev.spillway.collector;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.spillway.telemetry.testsupport.Await;
import dev.spillway.telemetry.testsupport.TestDatabase;
import dev.spillway.testkit.FakeReceiver;
import dev.spillway.testkit.TargetServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.spillway.collector.MonitorLeasesEndToEndTest.monitorsFile;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.name;
import static dev.spillway.collector.MonitorLeasesEndToEndTest.path;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Three collectors as real processes (the shaded jar) on one database, one Slack-style channel with a 1 s group
 * window. 20 monitors are forced DOWN while the receiver hangs; the process whose relay holds the lease of the
 * digest in flight is killed with {@code kill -9}. Once the receiver answers again, another process sends that
 * digest again with the same id, and with repeats of an id dropped (as a receiver using the idempotency key does)
 * every DOWN transition is in exactly one message.
 */
class DigestKillIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MONITORS = 20;

    private static long queryLong(TestDatabase db, String sql) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getLong(1) : -1;
        }
    }

    private static String queryString(TestDatabase db, String sql) throws Exception {
        try (Connection c = db.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            return rs.next() ? rs.getString(1) : null;
        }
    }

    @Test
    void aDigestInFlightWhenItsCollectorIsKilledIsSentAgainWithTheSameIdAndNothingIsLost(@TempDir Path dir)
        throws Exception {
        final String jar = System.getProperty("spillway.collector.jar", "target/spillway-collector.jar");
        assertTrue(Files.exists(Path.of(jar)), "shaded jar missing: " + jar);
        try (TestDatabase db = TestDatabase.create("digest_kill"); TargetServer target = TargetServer.http();
             FakeReceiver receiver = new FakeReceiver()) {
            // A 4 s timeout: a loopback check cut at 1 s on a loaded machine would make a monitor flap before the
            // targets fail, and every change is announced; this test is about the digests, not about timeouts.
            final Path file = monitorsFile(dir, target, MONITORS, Duration.ofSeconds(5), Duration.ofSeconds(4), 1);
            final List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-jar", jar, "--jdbc-url", db.jdbcUrl(), "--db-user", db.user(), "--db-password",
                db.password(), "--http", "127.0.0.1:0", "--flush-interval", "20ms", "--monitors", file.toString(),
                "--slack-webhook", receiver.url("/slack"), "--notify-group-window", "1s");
            final Map<Long, Process> byPid = new HashMap<>();
            final List<Process> procs = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    final Path log = dir.resolve("collector-" + i + ".log");
                    final List<String> args = new ArrayList<>(cmd);
                    args.addAll(List.of("--spool-dir", dir.resolve("spool-" + i).toString()));
                    final Process p = new ProcessBuilder(args).redirectErrorStream(true).redirectOutput(log.toFile())
                        .start();
                    procs.add(p);
                    byPid.put(p.pid(), p);
                }
                Await.untilNoThrow(Duration.ofSeconds(120), () -> {
                    for (int i = 0; i < procs.size(); i++) {
                        if (!procs.get(i).isAlive()) {
                            throw new AssertionError("collector " + i + " exited: "
                                + Files.readString(dir.resolve("collector-" + i + ".log")));
                        }
                    }
                    return queryLong(db, "SELECT count(*) FROM monitor_transitions WHERE from_state IS NULL")
                        == MONITORS;
                }, "every monitor's first result");
                assertEquals(0, receiver.received("/slack").size(), "first results are not announced");

                // The receiver hangs; every monitor goes DOWN.
                receiver.always("/slack", FakeReceiver.Reply.hang());
                for (int i = 0; i < MONITORS; i++) {
                    target.on(path(name(i)), TargetServer.Behaviour.status(500));
                }
                Await.untilNoThrow(Duration.ofSeconds(60), () -> receiver.received("/slack").size() >= 1,
                    "a message in flight to the hanging receiver");
                final long inFlight = receiver.received("/slack").get(0).notificationId();
                final String owner = queryString(db, "SELECT lease_owner FROM notification_outbox WHERE id = "
                    + inFlight);
                assertTrue(owner != null && owner.startsWith("relay-"), "leased: " + owner);
                final long pid = Long.parseLong(owner.split("-")[1]);
                final Process victim = byPid.get(pid);
                assertTrue(victim != null, "the lease holder is one of the three processes: " + owner);
                victim.destroyForcibly(); // SIGKILL mid-send: its lease stays until it ends
                assertTrue(victim.waitFor(30, TimeUnit.SECONDS), "killed");

                receiver.always("/slack", FakeReceiver.Reply.ok());
                Await.untilNoThrow(Duration.ofSeconds(120), () -> queryLong(db, "SELECT count(*) FROM monitor_state "
                    + "WHERE confirmed_state = 'DOWN'") == MONITORS, "every monitor DOWN");
                Await.untilNoThrow(Duration.ofSeconds(120), () -> queryLong(db, "SELECT count(*) FROM "
                    + "notification_outbox WHERE channel_id = 'slack' AND state <> 'sent'") == 0,
                    "every slack row sent");

                // Per distinct message id (repeats of an id dropped, as a receiver using the idempotency key does):
                // how many DOWN and UP changes it announces. A digest says "N monitors down: ...; M monitors up: ...";
                // a single message says "Monitor m is DOWN (was UP)".
                final Map<Long, int[]> countById = new HashMap<>();
                final List<String> texts = new ArrayList<>();
                int deliveriesOfInFlight = 0;
                final java.util.regex.Pattern digestPart = java.util.regex.Pattern.compile("(\\d+) monitors? (down|up): ",
                    java.util.regex.Pattern.CASE_INSENSITIVE);
                final java.util.regex.Pattern single = java.util.regex.Pattern.compile("Monitor \\S+ is (DOWN|UP)\\b");
                for (FakeReceiver.Received r : receiver.received("/slack")) {
                    if (r.notificationId() == inFlight) {
                        deliveriesOfInFlight++;
                    }
                    final String text = JSON.readTree(r.body()).get("text").asText();
                    texts.add(r.notificationId() + ": " + text);
                    final int[] downUp = new int[2];
                    final java.util.regex.Matcher m = digestPart.matcher(text);
                    boolean digest = false;
                    while (m.find()) {
                        digest = true;
                        downUp[m.group(2).equalsIgnoreCase("down") ? 0 : 1] += Integer.parseInt(m.group(1));
                    }
                    if (!digest) {
                        final java.util.regex.Matcher one = single.matcher(text);
                        assertTrue(one.find(), "a message about one monitor: " + text);
                        downUp[one.group(1).equals("DOWN") ? 0 : 1] = 1;
                    }
                    countById.put(r.notificationId(), downUp);
                }
                assertTrue(deliveriesOfInFlight >= 2, "the digest in flight was sent again with the same id");
                // One DOWN per monitor, no flap: a result that ended after its collector lost the lease (the victim's
                // monitors move) must not flip a state back (MonitorLeaseSafetyTest has that case on its own).
                final long downs = queryLong(db, "SELECT count(*) FROM monitor_transitions WHERE to_state = 'DOWN'");
                final long ups = queryLong(db, "SELECT count(*) FROM monitor_transitions WHERE to_state = 'UP' "
                    + "AND from_state IS NOT NULL");
                assertEquals(MONITORS, downs, "every transition recorded, each monitor DOWN once");
                assertEquals(0, ups, "no monitor came back UP while its target failed");
                assertEquals(downs, countById.values().stream().mapToInt(c -> c[0]).sum(),
                    "each DOWN in exactly one message (repeats of an id dropped): " + texts);
                assertEquals(ups, countById.values().stream().mapToInt(c -> c[1]).sum(),
                    "each UP in exactly one message (repeats of an id dropped): " + texts);
                System.out.printf("kill -9 of the lease holder mid-send: %d distinct messages for %d transitions; "
                    + "the message in flight was delivered %d times with one id%n", countById.size(), downs + ups,
                    deliveriesOfInFlight);
            } finally {
                for (Process p : procs) {
                    p.destroy();
                }
                for (Process p : procs) {
                    if (!p.waitFor(60, TimeUnit.SECONDS)) {
                        p.destroyForcibly();
                    }
                }
            }
        }
    }
}
