package dev.spillway.uptime.monitor;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.spillway.runtime.api.ApiException;
import dev.spillway.runtime.api.ApiJson;
import dev.spillway.runtime.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The address policy's rules, literal spellings, ranges, and the 400 at creation that names {@code url}. */
class AddressPolicyTest {

    private static final AddressPolicy DEFAULTS = AddressPolicy.defaults();

    private static String reason(AddressPolicy p, String address) throws Exception {
        final AddressPolicy.Denial d = p.check(InetAddress.getByName(address));
        return d == null ? null : d.describe();
    }

    @Test
    void theDefaultsDenyUnspecifiedLinkLocalAndMetadataAndAllowLoopbackAndPrivateRanges() throws Exception {
        for (String allowed : List.of("127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12::1",
            "100.64.0.1", "8.8.8.8", "2001:db8::1", "169.253.255.255", "169.255.0.0")) {
            assertNull(reason(DEFAULTS, allowed), allowed);
        }
        assertEquals("169.254.169.254 is cloud metadata (169.254.169.254/32, denied by default; allow with "
            + "--probe-allow)", reason(DEFAULTS, "169.254.169.254"));
        assertEquals("169.254.0.1 is link-local (169.254.0.0/16, denied by default; allow with --probe-allow)",
            reason(DEFAULTS, "169.254.0.1"));
        assertEquals("fe80::1 is link-local (fe80::/10, denied by default; allow with --probe-allow)",
            reason(DEFAULTS, "fe80::1"));
        assertEquals("febf::1 is link-local (fe80::/10, denied by default; allow with --probe-allow)",
            reason(DEFAULTS, "febf::1"));
        assertEquals("fd00:ec2::254 is cloud metadata (fd00:ec2::254/128, denied by default; allow with "
            + "--probe-allow)", reason(DEFAULTS, "fd00:ec2::254"));
        assertTrue(reason(DEFAULTS, "100.100.100.200").startsWith("100.100.100.200 is cloud metadata"));
        assertTrue(reason(DEFAULTS, "192.0.0.192").startsWith("192.0.0.192 is cloud metadata"));
        assertTrue(reason(DEFAULTS, "0.0.0.0").startsWith("0.0.0.0 is unspecified (0.0.0.0/8"));
        assertTrue(reason(DEFAULTS, "::").startsWith(":: is unspecified (::/128"));
        // IPv4 inside IPv6: mapped is the IPv4 address; compatible and NAT64 are denied when their IPv4 is.
        assertTrue(reason(DEFAULTS, "::ffff:169.254.169.254").startsWith("169.254.169.254 is cloud metadata"));
        assertTrue(reason(DEFAULTS, "64:ff9b::a9fe:a9fe").startsWith("64:ff9b::a9fe:a9fe is cloud metadata"));
        assertTrue(reason(DEFAULTS, "::169.254.169.254").startsWith("::a9fe:a9fe is cloud metadata"));
        assertNull(reason(DEFAULTS, "64:ff9b::a01:203"), "NAT64 of 10.1.2.3");
    }

    @Test
    void theMostSpecificRangeDecidesAndAllowWinsATie() throws Exception {
        final AddressPolicy p = AddressPolicy.of(AddressPolicy.parseList("169.254.0.0/16, 10.1.0.0/16"),
            AddressPolicy.parseList("10.0.0.0/8,10.1.2.0/24,fd00::/8"));
        assertNull(reason(p, "169.254.1.1"), "link-local allowed");
        assertTrue(reason(p, "169.254.169.254").contains("cloud metadata"), "the metadata /32 is more specific");
        assertEquals("10.9.9.9 is in --probe-deny 10.0.0.0/8", reason(p, "10.9.9.9"));
        assertNull(reason(p, "10.1.9.9"), "the allowed /16 inside the denied /8");
        assertEquals("10.1.2.3 is in --probe-deny 10.1.2.0/24", reason(p, "10.1.2.3"));
        assertEquals("fd12::1 is in --probe-deny fd00::/8", reason(p, "fd12::1"));
        final AddressPolicy tie = AddressPolicy.of(AddressPolicy.parseList("169.254.169.254"), List.of());
        assertNull(reason(tie, "169.254.169.254"), "allow wins a tie with a built-in deny");
        assertTrue(reason(tie, "169.254.169.253").contains("link-local"));
        final AddressPolicy everything = AddressPolicy.of(AddressPolicy.parseList("0.0.0.0/0,::/0"), List.of());
        assertNull(reason(everything, "127.0.0.1"));
        assertTrue(reason(everything, "169.254.169.254").contains("cloud metadata"), "a /0 is the least specific");
    }

    @Test
    void literalsAreReadInEverySpelling() throws Exception {
        final InetAddress metadata = InetAddress.getByName("169.254.169.254");
        for (String spelling : List.of("169.254.169.254", "2852039166", "0xa9fea9fe", "0XA9FEA9FE",
            "0251.0376.0251.0376", "0xa9.0xfe.0xa9.0xfe", "169.254.43518", "169.16689662", "169.254.169.254.",
            "[::ffff:169.254.169.254]", "::ffff:a9fe:a9fe", "0:0:0:0:0:ffff:a9fe:a9fe", "0251.254.0xa9.254")) {
            assertTrue(AddressPolicy.literals(spelling).contains(metadata), spelling + " -> "
                + AddressPolicy.literals(spelling));
        }
        assertEquals(List.of(InetAddress.getByName("127.0.0.1")), AddressPolicy.literals("0x7f000001"));
        assertEquals(List.of(InetAddress.getByName("127.0.0.1")), AddressPolicy.literals("127.1"));
        assertEquals(List.of(InetAddress.getByName("0.0.0.0")), AddressPolicy.literals("0"));
        // Java reads leading zeros as decimal, C resolvers and browsers as octal: both readings are checked.
        assertEquals(List.of(InetAddress.getByName("127.0.0.1"), InetAddress.getByName("177.0.0.1")),
            AddressPolicy.literals("0177.0.0.1"));
        assertEquals(List.of(InetAddress.getByName("0.0.0.0")), AddressPolicy.literals("0x"), "WHATWG: 0x is 0");
        for (String name : List.of("example.org", "a.b.c.d.e", "1.2.3.4.5", "256.256.256.256.x", "1.2.3.x",
            "999999999999", "1.2.3.256", "", "::zz", "08.0.0.1x")) {
            assertEquals(List.of(), AddressPolicy.literals(name), name);
        }
    }

    @Test
    void rangesAreParsedStrictlyWithMessagesThatSayWhatIsWrong() {
        assertEquals("[10.0.0.0/8, fd00::/8, 192.0.2.7/32, ::1/128]",
            AddressPolicy.parseList(" 10.0.0.0/8 ,fd00::/8,,192.0.2.7,::1").toString());
        assertEquals("'10.0.0.1/8' has host bits set; did you mean 10.0.0.0/8?", message("10.0.0.1/8"));
        assertEquals("'10.0.0.0/33': the prefix length must be 0..32", message("10.0.0.0/33"));
        assertEquals("'fd00::/129': the prefix length must be 0..128", message("fd00::/129"));
        assertEquals("'010.0.0.0/8': '010' is not a number 0..255 without leading zeros", message("010.0.0.0/8"));
        assertEquals("'10.0.0/8' is not an address range such as 10.0.0.0/8, fd00::/8 or 192.0.2.7",
            message("10.0.0/8"));
        assertEquals("'example.org' is not an address range such as 10.0.0.0/8, fd00::/8 or 192.0.2.7",
            message("example.org"));
        assertEquals("'fd00::zz/8' is not an address range: 'fd00::zz' is not an IPv6 address", message("fd00::zz/8"));
        assertEquals("'::ffff:10.0.0.1': write IPv4-mapped addresses as IPv4 (10.0.0.1); they are matched as IPv4",
            message("::ffff:10.0.0.1"));
        assertEquals("'10.0.0.0/x': the prefix length must be 0..32", message("10.0.0.0/x"));
    }

    private static String message(String cidr) {
        return assertThrows(IllegalArgumentException.class, () -> AddressPolicy.parseList(cidr)).getMessage();
    }

    private static ObjectNode monitor(String url) {
        final ObjectNode o = ApiJson.object();
        o.put("name", "m");
        o.put("url", url);
        return o;
    }

    @Test
    void aDeniedLiteralInAnySpellingIsA400NamingUrlAndTheRule() throws Exception {
        for (String url : List.of("http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/",
            "http://2852039166/", "http://0xa9fea9fe/", "http://0251.254.169.254/", "https://[::ffff:a9fe:a9fe]:443/",
            "http://[0:0:0:0:0:ffff:a9fe:a9fe]/", "http://user:pw@169.254.169.254:80/")) {
            final ApiException e = assertThrows(ApiException.class,
                () -> MonitorValidator.checkAddress(MonitorValidator.parse(monitor(url), null), DEFAULTS), url);
            assertEquals(400, e.status(), url);
            assertEquals("url", e.extra().get("field"), url);
            assertTrue(e.getMessage().matches("url: address policy: [^ ]+ (\\(169\\.254\\.169\\.254\\) )?is cloud "
                + "metadata \\(169\\.254\\.169\\.254/32, denied by default; allow with --probe-allow\\)"),
                url + ": " + e.getMessage());
        }
        // Spellings java.net.URI does not take as a host are refused before the policy (and, in a redirect's
        // Location, which the HTTP client does read, checked at the hop: ProbeSecurityTest).
        for (String url : List.of("http://0251.0376.0251.0376/", "http://169.254.43518/", "http://169.254.169.254./",
            "http://0xa9.0xfe.0xa9.0xfe/", "http://\uff11\uff16\uff19.254.169.254/")) {
            final ApiException e = assertThrows(ApiException.class, () -> MonitorValidator.parse(monitor(url), null));
            assertEquals("url", e.extra().get("field"), url);
            assertTrue(e.getMessage().startsWith("url: needs a host name"), e.getMessage());
        }
        for (String url : List.of("http://0.0.0.0:8080/", "http://0/", "http://[::]/", "http://[fe80::1]/",
            "http://[fd00:ec2::254]/", "http://100.100.100.200/", "http://169.254.1.1/", "http://[::ffff:0:0]/")) {
            final ApiException e = assertThrows(ApiException.class,
                () -> MonitorValidator.checkAddress(MonitorValidator.parse(monitor(url), null), DEFAULTS), url);
            assertEquals("url", e.extra().get("field"), url);
            assertTrue(e.getMessage().contains("denied by default; allow with --probe-allow"), e.getMessage());
        }
        final AddressPolicy noLoopback = AddressPolicy.of(List.of(), AddressPolicy.parseList("127.0.0.0/8"));
        final ApiException hex = assertThrows(ApiException.class, () -> MonitorValidator.checkAddress(
            MonitorValidator.parse(monitor("http://0x7f000001/"), null), noLoopback));
        assertEquals("url: address policy: 0x7f000001 (127.0.0.1) is in --probe-deny 127.0.0.0/8", hex.getMessage());
        // Allowed: loopback, private, names (checked when they resolve), and what the allow list opens.
        for (String url : List.of("http://127.0.0.1:8080/", "http://[::1]/", "http://10.0.0.1/",
            "http://metadata.google.internal/", "http://0x7f000001/")) {
            MonitorValidator.checkAddress(MonitorValidator.parse(monitor(url), null), DEFAULTS);
        }
        MonitorValidator.checkAddress(MonitorValidator.parse(monitor("http://169.254.169.254/"), null),
            AddressPolicy.of(AddressPolicy.parseList("169.254.169.254/32"), List.of()));
    }

    @Test
    void aMonitorsFileWithADeniedLiteralIsAConfigurationErrorNamingTheEntryAndUrl(@TempDir Path dir) throws Exception {
        final Path f = dir.resolve("m.yaml");
        Files.writeString(f, "- name: ok\n  url: http://127.0.0.1:8080/\n- name: meta\n  url: http://2852039166/\n");
        final ConfigException e = assertThrows(ConfigException.class,
            () -> MonitorFile.read(f, "--monitors m.yaml", DEFAULTS));
        assertEquals("--monitors m.yaml: entry 2 ('meta'): url: address policy: 2852039166 (169.254.169.254) is cloud "
            + "metadata (169.254.169.254/32, denied by default; allow with --probe-allow)", e.getMessage());
        assertNotNull(MonitorFile.read(f, "--monitors m.yaml",
            AddressPolicy.of(AddressPolicy.parseList("169.254.169.254"), List.of())));
    }
}
