package dev.spillway.runtime.api;

/**
 * What a request's credential allows, as the HTTP layer found it: everything ({@code --token}, or no token
 * configured), reading (a read-only token), pinging one heartbeat service (a ping key), or nothing.
 *
 * @param level how far the credential reaches
 * @param service the one service a {@link Level#PING} key may ping; null otherwise
 */
public record ApiAccess(Level level, String service) {

    /** How far a credential reaches; each level includes none of the others but {@link #ADMIN} includes all. */
    public enum Level {
        /** No credential, or an unknown one. */
        NONE,
        /** Ping one heartbeat service, nothing else. */
        PING,
        /** Every read (GET, HEAD), the status page and {@code /metrics}; no change. */
        READ,
        /** Everything: the collector's {@code --token}. */
        ADMIN
    }

    /** Everything. */
    public static final ApiAccess ADMIN = new ApiAccess(Level.ADMIN, null);
    /** Reads only. */
    public static final ApiAccess READ = new ApiAccess(Level.READ, null);
    /** Nothing. */
    public static final ApiAccess NONE = new ApiAccess(Level.NONE, null);

    /** A ping key of {@code service}. */
    public static ApiAccess ping(String service) {
        return new ApiAccess(Level.PING, service);
    }

    /** Whether this may read (admin or a read-only token). */
    public boolean canRead() {
        return level == Level.READ || level == Level.ADMIN;
    }

    /** Whether this may do everything. */
    public boolean isAdmin() {
        return level == Level.ADMIN;
    }

    /** Whether this may ping {@code serviceId}. */
    public boolean mayPing(String serviceId) {
        return level == Level.ADMIN || (level == Level.PING && service != null && service.equals(serviceId));
    }

    /** What a refusal says this credential is, e.g. {@code "a read-only token"}. */
    public String describe() {
        return switch (level) {
            case NONE -> "no credential";
            case PING -> "a ping key of service '" + service + "'";
            case READ -> "a read-only token";
            case ADMIN -> "the admin token";
        };
    }
}
