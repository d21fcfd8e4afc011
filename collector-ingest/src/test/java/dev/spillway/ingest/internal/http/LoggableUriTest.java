package dev.spillway.ingest.internal.http;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Request URIs as the log shows them: credentials and secret-looking query values masked, one line. */
class LoggableUriTest {

    @Test
    void masksCredentialsAndSecretQueryValues() {
        assertEquals("/write?db=x&p=***&u=me", HttpApiHandler.loggable("/write?db=x&p=s3cret&u=me"));
        assertEquals("/api/v1/services/a/ping?key=***&status=0",
            HttpApiHandler.loggable("/api/v1/services/a/ping?key=k3y&status=0"));
        assertEquals("/?token=***&api_key=***&X-Amz-Signature=***&page=2",
            HttpApiHandler.loggable("/?token=t&api_key=a&X-Amz-Signature=s&page=2"));
        assertEquals("/x?a=1\\nb", HttpApiHandler.loggable("/x?a=1\nb"));
    }
}
