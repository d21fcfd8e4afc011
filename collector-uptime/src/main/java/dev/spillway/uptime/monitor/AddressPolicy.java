package dev.spillway.uptime.monitor;

import okhttp3.HttpUrl;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Which addresses monitors may connect to ({@code --probe-allow}, {@code --probe-deny}). Evaluated on the address
 * actually connected to, after name resolution, for every connection of a check (redirects included), so DNS
 * rebinding cannot dodge it; and on IP literals in any spelling when a monitor is created.
 *
 * <p>Rules are address ranges: {@link #DEFAULT_DENY} (unspecified, link-local and cloud metadata addresses), the
 * {@code --probe-deny} ranges and the {@code --probe-allow} ranges. The most specific range containing the address
 * decides (longest prefix); on a tie, allow wins; no range: allowed. So loopback and private ranges are allowed
 * unless denied, {@code --probe-allow 169.254.0.0/16} opens link-local but not the metadata address inside it, and
 * {@code --probe-deny 10.0.0.0/8 --probe-allow 10.1.0.0/16} opens one subnet of a denied range.
 *
 * <p>IPv4-mapped ({@code ::ffff:a.b.c.d}) addresses are the IPv4 address; IPv4-compatible ({@code ::a.b.c.d}) and
 * NAT64 ({@code 64:ff9b::a.b.c.d}) addresses are denied when either the IPv6 address or the IPv4 address inside
 * is. Immutable and thread-safe.
 */
public final class AddressPolicy {

    /** Why a range is a rule: built in, or from an option. */
    public enum Source {
        /** {@link #DEFAULT_DENY}. */
        DEFAULT,
        /** {@code --probe-deny}. */
        DENY,
        /** {@code --probe-allow}. */
        ALLOW
    }

    /**
     * One rule.
     *
     * @param range the addresses
     * @param source built in or which option
     * @param label what the range is, e.g. {@code link-local} (built-in rules), or the option's name
     */
    public record Rule(Cidr range, Source source, String label) {
        boolean allows() {
            return source == Source.ALLOW;
        }
    }

    /**
     * The built-in deny list: addresses a monitor must not reach unless {@code --probe-allow} names them. Loopback
     * and private ranges are not in it: monitoring internal services is the point.
     */
    public static final List<Rule> DEFAULT_DENY = List.of(
        builtIn("0.0.0.0/8", "unspecified"),              // 'this network'; a connect to 0.0.0.0 reaches this host
        builtIn("::/128", "unspecified"),
        builtIn("169.254.0.0/16", "link-local"),
        builtIn("fe80::/10", "link-local"),
        builtIn("169.254.169.254/32", "cloud metadata"),  // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        builtIn("fd00:ec2::254/128", "cloud metadata"),   // AWS over IPv6
        builtIn("100.100.100.200/32", "cloud metadata"),  // Alibaba Cloud
        builtIn("192.0.0.192/32", "cloud metadata"));     // Oracle Cloud (legacy)

    private static final AddressPolicy DEFAULTS = new AddressPolicy(List.of(), List.of());

    private final List<Cidr> allow;
    private final List<Cidr> deny;
    private final List<Rule> rules;

    private AddressPolicy(List<Cidr> allow, List<Cidr> deny) {
        this.allow = List.copyOf(allow);
        this.deny = List.copyOf(deny);
        final List<Rule> r = new ArrayList<>(DEFAULT_DENY);
        deny.forEach(c -> r.add(new Rule(c, Source.DENY, "--probe-deny")));
        allow.forEach(c -> r.add(new Rule(c, Source.ALLOW, "--probe-allow")));
        this.rules = List.copyOf(r);
    }

    /** The built-in deny list alone. */
    public static AddressPolicy defaults() {
        return DEFAULTS;
    }

    /** The built-in deny list plus these ranges. */
    public static AddressPolicy of(List<Cidr> allow, List<Cidr> deny) {
        return allow.isEmpty() && deny.isEmpty() ? DEFAULTS : new AddressPolicy(allow, deny);
    }

    /** The {@code --probe-allow} ranges. */
    public List<Cidr> allow() {
        return allow;
    }

    /** The {@code --probe-deny} ranges. */
    public List<Cidr> deny() {
        return deny;
    }

    /**
     * Why the address is denied, or null when it is allowed.
     *
     * @param address what a connection would go to
     */
    public Denial check(InetAddress address) {
        final byte[] b = address.getAddress();
        if (b.length == 16 && isMapped(b)) {
            final byte[] v4 = Arrays.copyOfRange(b, 12, 16);
            return decide(ipv4(v4), v4);
        }
        final Denial d = decide(address, b);
        if (d != null || b.length == 4) {
            return d;
        }
        final byte[] v4 = embeddedIpv4(b);
        return v4 == null ? null : decide(address, v4);
    }

    /**
     * Checks a host as written in a URL when it is an IP literal in any spelling the URL parsers and resolvers
     * accept ({@code 169.254.169.254}, {@code 2852039166}, {@code 0xa9fea9fe}, {@code 0251.0376.0251.0376},
     * {@code 169.254.43518}, {@code [::ffff:169.254.169.254]}, a trailing dot); a host name is not checked here
     * (its addresses are, at connect time).
     *
     * @return the first denial, or null (allowed, or not an IP literal)
     */
    public Denial checkLiteral(String host) {
        for (InetAddress a : literals(host)) {
            final Denial d = check(a);
            if (d != null) {
                return d.spelled(host);
            }
        }
        return null;
    }

    /** {@link #checkLiteral} for the host of a URL, read the way the probe's HTTP client reads it. */
    public Denial checkLiteral(URI url) {
        final HttpUrl u = HttpUrl.parse(url.toString());
        return u == null ? null : checkLiteral(u.host());
    }

    private Denial decide(InetAddress address, byte[] bytes) {
        Rule best = null;
        for (Rule r : rules) {
            if (r.range.contains(bytes) && (best == null || r.range.prefix > best.range.prefix
                || (r.range.prefix == best.range.prefix && r.allows() && !best.allows()))) {
                best = r;
            }
        }
        return best == null || best.allows() ? null : new Denial(address, null, best);
    }

    private static boolean isMapped(byte[] b) {
        for (int i = 0; i < 10; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return b[10] == (byte) 0xff && b[11] == (byte) 0xff;
    }

    /** The IPv4 address inside an IPv4-compatible ({@code ::a.b.c.d}, not {@code ::1}) or NAT64 address, or null. */
    private static byte[] embeddedIpv4(byte[] b) {
        boolean compatible = b[12] != 0;
        for (int i = 0; i < 12 && compatible; i++) {
            compatible = b[i] == 0;
        }
        final boolean nat64 = b[0] == 0 && b[1] == 0x64 && b[2] == (byte) 0xff && b[3] == (byte) 0x9b
            && Arrays.equals(Arrays.copyOfRange(b, 4, 12), new byte[8]);
        return compatible || nat64 ? Arrays.copyOfRange(b, 12, 16) : null;
    }

    /**
     * Every address a URL host may stand for when it is an IP literal: an IPv6 literal (brackets optional), or an
     * IPv4 number in the WHATWG URL standard's (and {@code inet_aton}'s) reading, 1 to 4 parts each decimal, octal
     * ({@code 0} prefix) or hex ({@code 0x}), the last filling the remaining bytes, and also in Java's reading
     * (every part decimal, leading zeros ignored) where it differs. Empty for a host name.
     */
    public static List<InetAddress> literals(String host) {
        if (host == null || host.isEmpty()) {
            return List.of();
        }
        String h = host.toLowerCase(Locale.ROOT);
        if (h.startsWith("[") && h.endsWith("]")) {
            h = h.substring(1, h.length() - 1);
        }
        if (h.indexOf(':') >= 0) {
            final int zone = h.indexOf('%');
            try {
                return List.of(InetAddress.getByName("[" + (zone < 0 ? h : h.substring(0, zone)) + "]"));
            } catch (UnknownHostException | RuntimeException e) {
                return List.of(); // not an IPv6 literal: nothing to check here
            }
        }
        final List<String> parts = new ArrayList<>(Arrays.asList(h.split("\\.", -1)));
        if (parts.size() > 1 && parts.get(parts.size() - 1).isEmpty()) {
            parts.remove(parts.size() - 1); // one trailing dot
        }
        if (parts.isEmpty() || parts.size() > 4 || !NUMBER.matcher(parts.get(parts.size() - 1)).matches()) {
            return List.of();
        }
        final List<InetAddress> out = new ArrayList<>(2);
        for (boolean decimalOnly : new boolean[] {false, true}) {
            final InetAddress a = ipv4(parts, decimalOnly);
            if (a != null && !out.contains(a)) {
                out.add(a);
            }
        }
        return out;
    }

    private static final Pattern NUMBER = Pattern.compile("[0-9]+|0x[0-9a-f]*");

    private static InetAddress ipv4(List<String> parts, boolean decimalOnly) {
        final long[] n = new long[parts.size()];
        for (int i = 0; i < n.length; i++) {
            final String p = parts.get(i);
            try {
                if (decimalOnly) {
                    if (!p.matches("[0-9]{1,12}")) {
                        return null;
                    }
                    n[i] = Long.parseLong(p);
                } else if (p.startsWith("0x")) {
                    n[i] = p.length() == 2 ? 0 : p.length() > 10 ? Long.MAX_VALUE : Long.parseLong(p.substring(2), 16);
                } else if (p.length() > 1 && p.startsWith("0")) {
                    n[i] = p.length() > 13 ? Long.MAX_VALUE : Long.parseLong(p.substring(1), 8);
                } else {
                    n[i] = p.length() > 12 ? Long.MAX_VALUE : Long.parseLong(p);
                }
            } catch (NumberFormatException e) {
                return null;
            }
        }
        long value = 0;
        for (int i = 0; i < n.length - 1; i++) {
            if (n[i] > 255) {
                return null;
            }
            value |= n[i] << (8 * (3 - i));
        }
        final long last = n[n.length - 1];
        if (last >= 1L << (8 * (5 - n.length))) {
            return null;
        }
        value |= last;
        return ipv4(new byte[] {(byte) (value >>> 24), (byte) (value >>> 16), (byte) (value >>> 8), (byte) value});
    }

    private static InetAddress ipv4(byte[] four) {
        try {
            return InetAddress.getByAddress(four);
        } catch (UnknownHostException e) {
            throw new IllegalStateException(e); // four bytes are always an address
        }
    }

    /** A comma-separated list of ranges ({@code 10.0.0.0/8,fd00::/8,192.0.2.7}); blank items are skipped. */
    public static List<Cidr> parseList(String text) {
        final List<Cidr> out = new ArrayList<>();
        if (text == null) {
            return out;
        }
        for (String item : text.split(",")) {
            if (!item.isBlank()) {
                out.add(Cidr.parse(item));
            }
        }
        return List.copyOf(out);
    }

    private static Rule builtIn(String cidr, String label) {
        return new Rule(Cidr.parse(cidr), Source.DEFAULT, label);
    }

    @Override
    public String toString() {
        return "allow=" + allow + " deny=" + deny;
    }

    /**
     * A refused address and the rule that refused it.
     *
     * @param address the address
     * @param spelling how the user wrote it (a host name or a literal spelling), or null
     * @param rule the deciding rule
     */
    public record Denial(InetAddress address, String spelling, Rule rule) {

        Denial spelled(String how) {
            return new Denial(address, how, rule);
        }

        /**
         * {@code 169.254.169.254 is link-local (169.254.0.0/16, denied by default; allow with --probe-allow)},
         * {@code 2852039166 (169.254.169.254) is ...}, {@code 10.1.2.3 is in --probe-deny 10.0.0.0/8}.
         */
        public String describe() {
            final String text = format(address);
            final String who = spelling == null || spelling.equalsIgnoreCase(text) ? text
                : spelling + " (" + text + ")";
            return rule.source == Source.DEFAULT
                ? who + " is " + rule.label + " (" + rule.range + ", denied by default; allow with --probe-allow)"
                : who + " is in --probe-deny " + rule.range;
        }

        /** {@code address policy: } + {@link #describe()}: a check's failure reason. */
        public String reason() {
            return "address policy: " + describe();
        }
    }

    /** An address and a prefix length, e.g. {@code 10.0.0.0/8}; a single address is {@code /32} or {@code /128}. */
    public static final class Cidr {
        private static final Pattern V4 = Pattern.compile("([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})");

        private final byte[] network;
        private final int prefix;

        private Cidr(byte[] network, int prefix) {
            this.network = network;
            this.prefix = prefix;
        }

        /**
         * Parses {@code 10.0.0.0/8}, {@code fd00::/8} or one address. IPv4 is dotted decimal without leading zeros;
         * host bits must be zero.
         *
         * @throws IllegalArgumentException saying what is wrong
         */
        public static Cidr parse(String text) {
            final String t = text.trim();
            final int slash = t.indexOf('/');
            final String addr = slash < 0 ? t : t.substring(0, slash);
            final byte[] bytes;
            if (addr.indexOf(':') >= 0) {
                if (addr.indexOf('%') >= 0 || addr.indexOf('[') >= 0) {
                    throw new IllegalArgumentException("'" + t + "' is not an address range: no brackets or zones");
                }
                final InetAddress a;
                try {
                    a = InetAddress.getByName("[" + addr + "]");
                } catch (UnknownHostException e) {
                    throw new IllegalArgumentException("'" + t + "' is not an address range: '" + addr
                        + "' is not an IPv6 address");
                }
                if (a instanceof Inet4Address) {
                    throw new IllegalArgumentException("'" + t + "': write IPv4-mapped addresses as IPv4 ("
                        + a.getHostAddress() + "); they are matched as IPv4");
                }
                bytes = a.getAddress();
            } else {
                final Matcher m = V4.matcher(addr);
                if (!m.matches()) {
                    throw new IllegalArgumentException("'" + t + "' is not an address range such as 10.0.0.0/8, "
                        + "fd00::/8 or 192.0.2.7");
                }
                bytes = new byte[4];
                for (int i = 0; i < 4; i++) {
                    final String p = m.group(i + 1);
                    if ((p.length() > 1 && p.startsWith("0")) || Integer.parseInt(p) > 255) {
                        throw new IllegalArgumentException("'" + t + "': '" + p + "' is not a number 0..255 "
                            + "without leading zeros");
                    }
                    bytes[i] = (byte) Integer.parseInt(p);
                }
            }
            final int max = bytes.length * 8;
            final int prefix;
            if (slash < 0) {
                prefix = max;
            } else {
                final String p = t.substring(slash + 1);
                if (!p.matches("[0-9]{1,3}") || Integer.parseInt(p) > max) {
                    throw new IllegalArgumentException("'" + t + "': the prefix length must be 0.." + max);
                }
                prefix = Integer.parseInt(p);
            }
            final Cidr c = new Cidr(bytes, prefix);
            final byte[] masked = c.masked(bytes);
            if (!Arrays.equals(masked, bytes)) {
                throw new IllegalArgumentException("'" + t + "' has host bits set; did you mean "
                    + new Cidr(masked, prefix) + "?");
            }
            return c;
        }

        /** Prefix length. */
        public int prefix() {
            return prefix;
        }

        boolean contains(byte[] address) {
            return address.length == network.length && Arrays.equals(masked(address), network);
        }

        private byte[] masked(byte[] a) {
            final byte[] out = a.clone();
            for (int i = 0; i < out.length; i++) {
                final int keep = Math.max(0, Math.min(8, prefix - 8 * i));
                out[i] &= (byte) (0xff << (8 - keep));
            }
            return out;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Cidr c && c.prefix == prefix && Arrays.equals(c.network, network);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(network) * 31 + prefix;
        }

        @Override
        public String toString() {
            try {
                return format(InetAddress.getByAddress(network)) + "/" + prefix;
            } catch (UnknownHostException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** An address as people write it: dotted IPv4, compressed lower-case IPv6 ({@code fd00:ec2::254}). */
    static String format(InetAddress a) {
        final byte[] b = a.getAddress();
        if (b.length == 4) {
            return a.getHostAddress();
        }
        final int[] g = new int[8];
        for (int i = 0; i < 8; i++) {
            g[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
        }
        int bestStart = -1;
        int bestLen = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && g[j] == 0) {
                j++;
            }
            if (j - i > bestLen) {
                bestStart = i;
                bestLen = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        final StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                sb.append("::");
                i += bestLen - 1;
                continue;
            }
            if (sb.length() > 0 && sb.charAt(sb.length() - 1) != ':') {
                sb.append(':');
            }
            sb.append(Integer.toHexString(g[i]));
        }
        return sb.toString();
    }
}
