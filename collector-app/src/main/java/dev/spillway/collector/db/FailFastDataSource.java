package dev.spillway.collector.db;

import javax.sql.DataSource;
import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLTransientConnectionException;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * The collector's pool as the API, monitors, heartbeats, notifications and the status page use it: while the
 * database is known to be down (the readiness probe's last check failed, or the embedded server's supervisor says
 * so), {@link #getConnection()} fails at once instead of waiting out the pool's connection timeout, so an API
 * request is answered 503 + {@code Retry-After} in milliseconds and a burst of requests cannot occupy every API
 * thread for seconds each. The pipeline's sink, the series catalogue and the probe itself use the pool directly.
 */
public final class FailFastDataSource implements DataSource {

    private final DataSource pool;
    private final Supplier<String> down;

    /**
     * @param pool the pool
     * @param down why the database is known to be down now, or null when it is not
     */
    public FailFastDataSource(DataSource pool, Supplier<String> down) {
        this.pool = pool;
        this.down = down;
    }

    @Override
    public Connection getConnection() throws SQLException {
        failIfDown();
        return pool.getConnection();
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        failIfDown();
        return pool.getConnection(username, password);
    }

    private void failIfDown() throws SQLTransientConnectionException {
        final String why = down.get();
        if (why != null) {
            throw new SQLTransientConnectionException(why, "08001");
        }
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
        return pool.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
        pool.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
        pool.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
        return pool.getLoginTimeout();
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        return pool.getParentLogger();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        return iface.isInstance(this) ? iface.cast(this) : pool.unwrap(iface);
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) throws SQLException {
        return iface.isInstance(this) || pool.isWrapperFor(iface);
    }
}
