package dev.spillway.runtime.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.regex.Pattern;

/**
 * An IP address or a CIDR range ({@code 10.0.0.0/8}, {@code ::1}, {@code fd00::/8}), parsed without ever asking
 * DNS: only address literals are accepted.
 *
 * @param network the range's first address bytes (4 or 16)
 * @param prefix the number of leading bits that must match
 */
public record AddressRange(byte[] network, int prefix) {

    private static final Pattern IPV4 = Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
    private static final Pattern IPV6_CHARS = Pattern.compile("[0-9A-Fa-f:.]+");

    /**
     * Parses {@code ADDRESS} or {@code ADDRESS/BITS}.
     *
     * @throws IllegalArgumentException saying what is expected
     */
    public static AddressRange parse(String spec) {
        final String s = spec.trim();
        final int slash = s.indexOf('/');
        final String addr = slash < 0 ? s : s.substring(0, slash);
        final InetAddress a = literal(addr);
        if (a == null) {
            throw new IllegalArgumentException("'" + spec + "' is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)");
        }
        final int bits = a.getAddress().length * 8;
        int prefix = bits;
        if (slash >= 0) {
            try {
                prefix = Integer.parseInt(s.substring(slash + 1));
            } catch (NumberFormatException e) {
                prefix = -1;
            }
            if (prefix < 0 || prefix > bits) {
                throw new IllegalArgumentException("'" + spec + "': the prefix length must be 0.." + bits);
            }
        }
        return new AddressRange(a.getAddress(), prefix);
    }

    /** The address of an IPv4 or IPv6 literal (brackets allowed), or null when {@code s} is not one. No DNS. */
    public static InetAddress literal(String s) {
        if (s == null || s.isEmpty()) {
            return null;
        }
        String t = s;
        if (t.startsWith("[") && t.endsWith("]")) {
            t = t.substring(1, t.length() - 1);
        }
        final boolean v4 = IPV4.matcher(t).matches();
        // A name cannot contain ':', so getByName reads such text as an IPv6 literal and never resolves it.
        final boolean v6 = t.indexOf(':') >= 0 && IPV6_CHARS.matcher(t).matches();
        if (!v4 && !v6) {
            return null;
        }
        try {
            return InetAddress.getByName(t);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    /** Whether {@code a} lies in this range (an IPv4-mapped IPv6 address counts as its IPv4 address). */
    public boolean contains(InetAddress a) {
        if (a == null) {
            return false;
        }
        final byte[] b = a.getAddress();
        if (b.length != network.length) {
            return false;
        }
        int bits = prefix;
        for (int i = 0; bits > 0; i++, bits -= 8) {
            final int mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
            if ((b[i] & mask) != (network[i] & mask)) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        try {
            return InetAddress.getByAddress(network).getHostAddress() + "/" + prefix;
        } catch (UnknownHostException e) {
            return "?";
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AddressRange r && r.prefix == prefix && java.util.Arrays.equals(r.network, network);
    }

    @Override
    public int hashCode() {
        return 31 * java.util.Arrays.hashCode(network) + prefix;
    }
}
