package dev.spillway.telemetry.testsupport;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TestSupportTest {

    @Test
    void eachDatabaseIsFreshAndIsolated() {
        try (TestDatabase a = TestDatabase.create("support_a"); TestDatabase b = TestDatabase.create("support_b")) {
            a.execute("create table t(x int)");
            a.execute("insert into t values (1), (2)");
            assertEquals(2, a.queryLong("select count(*) from t"));
            assertEquals(0, b.queryLong("select count(*) from pg_tables where tablename = 't'"));
        }
    }

    @Test
    void awaitReturnsWhenTrueAndFailsWithMessage() {
        final AtomicInteger calls = new AtomicInteger();
        Await.until(Duration.ofSeconds(5), () -> calls.incrementAndGet() >= 3, "three polls");
        final AssertionError e = assertThrows(AssertionError.class,
            () -> Await.until(Duration.ofMillis(20), () -> false, "never"));
        assertEquals(true, e.getMessage().contains("never"));
    }

    @Test
    void dedicatedServerKeepsDataAcrossRestart(@TempDir Path dir) {
        final int port = TestDatabase.freePort();
        try (DedicatedPostgres pg = TestDatabase.dedicated(dir.resolve("data"), port)) {
            pg.createDatabase("keep");
            final TestDatabaseOn db = new TestDatabaseOn(pg.jdbcUrl("keep"), pg.user());
            db.execute("create table t(x int)");
            db.execute("insert into t values (42)");
            pg.stop();
            pg.startServer();
            assertEquals(42, db.queryLong("select x from t"));
        }
    }

    /** Minimal JDBC helper for the dedicated server. */
    private record TestDatabaseOn(String url, String user) {
        void execute(String sql) {
            try (var c = java.sql.DriverManager.getConnection(url, user, ""); var st = c.createStatement()) {
                st.execute(sql);
            } catch (java.sql.SQLException e) {
                throw new IllegalStateException(e);
            }
        }

        long queryLong(String sql) {
            try (var c = java.sql.DriverManager.getConnection(url, user, ""); var st = c.createStatement();
                 var rs = st.executeQuery(sql)) {
                rs.next();
                return rs.getLong(1);
            } catch (java.sql.SQLException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
