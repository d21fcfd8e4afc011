package dev.spillway.collector.db;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Set;

/**
 * The embedded database's passwords, generated on first start and kept in {@code <data-dir>/pgpass}, mode 0600,
 * in PostgreSQL's password-file format, so that {@code PGPASSFILE=<data-dir>/pgpass psql -h 127.0.0.1 ...} works
 * as is. Two roles: the superuser {@code postgres} (administration only) and {@code spillway}, which the collector
 * writes as and which owns the collector's tables.
 *
 * @param superuserPassword password of {@code postgres}
 * @param writerPassword password of {@code spillway}
 * @param file where they are kept
 */
public record DatabaseSecrets(String superuserPassword, String writerPassword, Path file) {

    /** The superuser. */
    public static final String SUPERUSER = "postgres";
    /** The role the collector writes as. */
    public static final String WRITER = "spillway";

    private static final Logger LOG = LoggerFactory.getLogger(DatabaseSecrets.class);
    private static final Set<PosixFilePermission> OWNER_READ_WRITE = PosixFilePermissions.fromString("rw-------");
    private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    /** Reads the file, or creates it with fresh passwords. */
    static DatabaseSecrets loadOrCreate(Path file) throws IOException {
        if (Files.exists(file)) {
            final Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (!perms.equals(OWNER_READ_WRITE)) {
                LOG.warn("{} had mode {}; set to 0600", file, PosixFilePermissions.toString(perms));
                Files.setPosixFilePermissions(file, OWNER_READ_WRITE);
            }
            String su = null;
            String writer = null;
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                final String[] f = line.split(":", 5);
                if (line.startsWith("#") || f.length != 5) {
                    continue;
                }
                if (f[3].equals(SUPERUSER) && su == null) {
                    su = f[4];
                } else if (f[3].equals(WRITER) && writer == null) {
                    writer = f[4];
                }
            }
            if (su == null || writer == null) {
                throw new IOException(file + " lacks the " + (su == null ? SUPERUSER : WRITER) + " password line");
            }
            return new DatabaseSecrets(su, writer, file);
        }
        final DatabaseSecrets s = new DatabaseSecrets(generate(), generate(), file);
        final Path tmp = Files.createTempFile(file.getParent(), "pgpass", ".tmp",
            PosixFilePermissions.asFileAttribute(OWNER_READ_WRITE));
        Files.writeString(tmp, "# spillway-collector: passwords of the embedded PostgreSQL, in PGPASSFILE format. "
            + "Keep this file private (mode 0600).\n"
            + line("127.0.0.1", SUPERUSER, s.superuserPassword) + line("localhost", SUPERUSER, s.superuserPassword)
            + line("127.0.0.1", WRITER, s.writerPassword) + line("localhost", WRITER, s.writerPassword),
            StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        return s;
    }

    private static String line(String host, String user, String password) {
        return host + ":*:*:" + user + ":" + password + "\n";
    }

    /** 32 characters of [A-Za-z0-9] (190 bits): safe in a password file and in a SQL literal alike. */
    private static String generate() {
        final SecureRandom rnd = new SecureRandom();
        final StringBuilder sb = new StringBuilder(32);
        for (int i = 0; i < 32; i++) {
            sb.append(ALPHABET.charAt(rnd.nextInt(ALPHABET.length())));
        }
        return sb.toString();
    }

    /** Never prints the passwords. */
    @Override
    public String toString() {
        return "DatabaseSecrets[" + file + "]";
    }
}
