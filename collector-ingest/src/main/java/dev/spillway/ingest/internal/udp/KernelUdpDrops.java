package dev.spillway.ingest.internal.udp;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Reads the kernel's drop count of one UDP socket from Linux {@code /proc/net/udp} (IPv4) or
 * {@code /proc/net/udp6}: the row whose local address is the socket's, last column {@code drops}. Returns 0 where
 * the file does not exist (not Linux) or the row is not found.
 */
final class KernelUdpDrops {

    private static final Path UDP4 = Path.of("/proc/net/udp");
    private static final Path UDP6 = Path.of("/proc/net/udp6");

    private final List<String> v4Spellings = new java.util.ArrayList<>();
    private final List<String> v6Spellings = new java.util.ArrayList<>();

    KernelUdpDrops(InetSocketAddress local) {
        final InetAddress a = local.getAddress();
        final String port = ":" + String.format(Locale.ROOT, "%04X", local.getPort());
        if (a instanceof Inet4Address) {
            v4Spellings.add(hex(a.getAddress()) + port);
            // Java opens dual-stack sockets by default: an IPv4 bind then lives in udp6 as ::ffff:a.b.c.d, or as
            // :: for the wildcard.
            final byte[] mapped = new byte[16];
            mapped[10] = (byte) 0xff;
            mapped[11] = (byte) 0xff;
            System.arraycopy(a.getAddress(), 0, mapped, 12, 4);
            v6Spellings.add(hex(mapped) + port);
            if (a.isAnyLocalAddress()) {
                v6Spellings.add(hex(new byte[16]) + port);
            }
        } else {
            v6Spellings.add(hex(a.getAddress()) + port);
        }
    }

    /** The kernel's {@code local_address} spelling: the address as host-order 32-bit words in hex, then the port. */
    static String hex(byte[] b) {
        final StringBuilder sb = new StringBuilder(b.length * 2);
        for (int word = 0; word < b.length; word += 4) {
            // Each 32-bit word is printed as a little-endian integer on x86 and arm64.
            for (int i = 3; i >= 0; i--) {
                sb.append(String.format(Locale.ROOT, "%02X", b[word + i] & 0xff));
            }
        }
        return sb.toString();
    }

    double read() {
        final long v4 = find(UDP4, v4Spellings);
        return v4 >= 0 ? v4 : Math.max(0, find(UDP6, v6Spellings));
    }

    private static long find(Path table, List<String> spellings) {
        if (spellings.isEmpty()) {
            return -1;
        }
        final List<String> lines;
        try {
            lines = Files.readAllLines(table, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            return -1;
        }
        for (String line : lines) {
            final String[] f = line.trim().split("\\s+");
            if (f.length > 12 && spellings.contains(f[1].toUpperCase(Locale.ROOT))) {
                try {
                    return Long.parseLong(f[f.length - 1]);
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
