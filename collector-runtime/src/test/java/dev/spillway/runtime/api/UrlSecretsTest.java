package dev.spillway.runtime.api;

import org.junit.jupiter.api.Test;

import java.net.URI;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which URL parts are secrets and how they read masked. */
class UrlSecretsTest {

    @Test
    void secretNames() {
        for (String n : new String[] {"token", "KEY", "apikey", "api_key", "access_token", "secret", "password",
            "passwd", "pwd", "sig", "Signature", "auth", "code", "X-Amz-Signature", "sessionToken", "client_secret",
            "private-key", "db_password", "api%5Fkey", "X-Amz-Credential"}) {
            assertTrue(UrlSecrets.secretName(n), n);
        }
        for (String n : new String[] {"page", "q", "id", "author", "codec", "status", "%zz"}) {
            assertFalse(UrlSecrets.secretName(n), n);
        }
    }

    @Test
    void masksQueryValuesAndThePasswordOnly() {
        assertEquals("https://h.example/p?token=***&page=2&empty=&flag&API_KEY=***#frag",
            UrlSecrets.mask(URI.create("https://h.example/p?token=abc&page=2&empty=&flag&API_KEY=x#frag")));
        assertEquals("https://u:***@h.example:8443/a%20b?sig=***",
            UrlSecrets.mask(URI.create("https://u:pw@h.example:8443/a%20b?sig=s%3D1")));
        assertEquals("http://***@h/", UrlSecrets.mask(URI.create("http://onlyuser@h/")));
        assertEquals("http://h/#access_token=***&state=1",
            UrlSecrets.mask(URI.create("http://h/#access_token=t&state=1")));
        assertEquals("http://[::1]:8080/x?a=1&code=***&", UrlSecrets.mask(URI.create("http://[::1]:8080/x?a=1&code=c&")));
        for (String plain : new String[] {"http://h", "tcp://db.internal:5432", "icmp://10.0.0.1",
            "https://h.example/p?page=2", "dns://1.1.1.1:53/example.com?type=AAAA"}) {
            assertEquals(plain, UrlSecrets.mask(URI.create(plain)), "nothing secret: unchanged");
        }
        assertEquals("mailto:***", UrlSecrets.mask(URI.create("mailto:a@b")));
        assertEquals("***", UrlSecrets.mask("http://bad url/?token=x"));
    }
}
